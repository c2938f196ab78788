"""Our SCRAM server against an independent client: slixmpp's SASL mechanisms (``slixmpp.util.sasl``).

slixmpp picks its GS2 flag from what the server proposed: "n"/"p=tls-exporter" when -PLUS was offered (TLS 1.3),
"y" when it was not. Running it against the server catches misreadings of the RFC that a client written next to
the server would share.
"""

from __future__ import annotations

from typing import Any

import pytest

from xmppd.errors import SASLFailure
from xmppd.sasl import Challenge, HashName, NeedCredentials, ScramKeys, Success, create_mechanism
from xmppd.sasl.scram import derive_keys

sasl = pytest.importorskip("slixmpp.util.sasl")

EXPORTER = {"tls-exporter": bytes(range(32))}
ACCOUNT: dict[HashName, ScramKeys] = {
    "sha1": derive_keys("pencil", "sha1"),
    "sha256": derive_keys("pencil", "sha256"),
}


def client(
    name: str, *, binding_proposed: bool, channel_binding: bytes = b"", password: str = "pencil"
) -> Any:
    """A slixmpp client mechanism for ``name`` on a TLS 1.3 connection."""

    def credentials(required: object, optional: object) -> dict[str, object]:
        return {"username": "user", "password": password, "channel_binding": channel_binding}

    def security(values: object) -> dict[str, object]:
        return {
            "encrypted": True,
            "unencrypted_scram": False,
            "tls_version": "TLSv1.3",
            "binding_proposed": binding_proposed,
        }

    mech = sasl.choose([name], credentials, security)
    assert mech.name == name
    return mech


def run(name: str, mech: Any, bindings: dict[str, bytes], gs2_header: bytes) -> Success:
    server = create_mechanism(name, channel_bindings=bindings, tls=True)
    client_first = mech.process()
    assert client_first.startswith(gs2_header)
    assert isinstance(server.receive(client_first), NeedCredentials)
    challenge = server.provide_credentials(ACCOUNT)
    assert isinstance(challenge, Challenge)
    success = server.receive(mech.process(challenge.data))
    assert isinstance(success, Success) and success.additional_data is not None
    assert mech.process(success.additional_data) == b""  # slixmpp checks the server signature
    assert mech._mutual_auth
    return success


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_round_trip(name: str) -> None:
    # No -PLUS offered: slixmpp sends "y", which is fine when the server really cannot bind.
    success = run(name, client(name, binding_proposed=False), {}, b"y,,")
    assert (success.username, success.authzid) == ("user", None)


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_round_trip_with_tls_exporter(name: str) -> None:
    mech = client(name, binding_proposed=True, channel_binding=EXPORTER["tls-exporter"])
    success = run(name, mech, EXPORTER, b"p=tls-exporter,,")
    assert success.username == "user"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_tls_exporter_of_another_channel_is_refused(name: str) -> None:
    mech = client(name, binding_proposed=True, channel_binding=bytes(32))
    server = create_mechanism(name, channel_bindings=EXPORTER, tls=True)
    server.receive(mech.process())
    challenge = server.provide_credentials(ACCOUNT)
    assert isinstance(challenge, Challenge)
    with pytest.raises(SASLFailure) as info:
        server.receive(mech.process(challenge.data))
    assert info.value.condition == "not-authorized"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_stripped_plus_is_detected(name: str) -> None:
    # An attacker removed -PLUS from the features: slixmpp says "y", the server can bind, so it refuses.
    server = create_mechanism(name, channel_bindings=EXPORTER, tls=True)
    client_first = client(name, binding_proposed=False).process()
    assert client_first.startswith(b"y,,")
    with pytest.raises(SASLFailure) as info:
        server.receive(client_first)
    assert info.value.condition == "not-authorized"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_wrong_password(name: str) -> None:
    mech = client(name, binding_proposed=False, password="pencil!")
    server = create_mechanism(name, channel_bindings={}, tls=True)
    server.receive(mech.process())
    challenge = server.provide_credentials(ACCOUNT)
    assert isinstance(challenge, Challenge)
    with pytest.raises(SASLFailure) as info:
        server.receive(mech.process(challenge.data))
    assert info.value.condition == "not-authorized"
