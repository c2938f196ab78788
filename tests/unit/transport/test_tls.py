"""Channel bindings of one connection: the types at once, ``tls-exporter``'s data only when looked up."""

from __future__ import annotations

import ssl

import pytest

from xmppd.transport import tls


@pytest.fixture(scope="module")
def server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    directory = tmp_path_factory.mktemp("tls")
    tls.ensure_self_signed(directory / "cert.pem", directory / "key.pem", ["localhost"])
    return tls.server_context(directory / "cert.pem", directory / "key.pem")


def connect(server_context: ssl.SSLContext, version: ssl.TLSVersion) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    client_context.maximum_version = version
    return tls._handshake_in_memory(client_context, server_context)


def test_the_types_are_those_of_the_eager_function(server_context: ssl.SSLContext) -> None:
    client, server = connect(server_context, ssl.TLSVersion.TLSv1_3)
    der = client.getpeercert(binary_form=True)
    assert der is not None
    lazy = tls.ChannelBindings(server, der)
    eager = tls.channel_bindings(server, der)
    assert sorted(lazy) == sorted(eager)
    assert dict(lazy) == eager
    if tls.tls_exporter_supported():
        assert lazy["tls-exporter"] == tls.tls_exporter(client)


def test_tls_exporter_is_computed_only_when_looked_up(
    server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not tls.tls_exporter_supported():
        pytest.skip("the TLS exporter cannot be reached in this Python build")
    client, server = connect(server_context, ssl.TLSVersion.TLSv1_3)
    der = client.getpeercert(binary_form=True)
    assert der is not None
    calls: list[object] = []
    real = tls.tls_exporter

    def counting(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
        calls.append(ssl_object)
        return real(ssl_object)

    monkeypatch.setattr(tls, "tls_exporter", counting)
    bindings = tls.ChannelBindings(server, der)
    assert "tls-exporter" in bindings and bindings.get("tls-server-end-point") is not None
    assert calls == []
    assert bindings["tls-exporter"] == bindings["tls-exporter"] == real(client)
    assert len(calls) == 1


def test_a_binding_that_cannot_be_computed_is_missing(
    server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not tls.tls_exporter_supported():
        pytest.skip("the TLS exporter cannot be reached in this Python build")
    client, server = connect(server_context, ssl.TLSVersion.TLSv1_3)
    der = client.getpeercert(binary_form=True)
    assert der is not None
    monkeypatch.setattr(tls, "tls_exporter", lambda ssl_object: None)
    bindings = tls.ChannelBindings(server, der)
    assert bindings.get("tls-exporter") is None
    assert list(bindings) == ["tls-server-end-point"]


def test_tls_1_2_has_no_exporter_binding(server_context: ssl.SSLContext) -> None:
    client, server = connect(server_context, ssl.TLSVersion.TLSv1_2)
    der = client.getpeercert(binary_form=True)
    assert der is not None
    assert list(tls.ChannelBindings(server, der)) == ["tls-server-end-point"]
