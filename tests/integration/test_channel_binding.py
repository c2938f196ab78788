"""SCRAM with channel binding over a real TLS connection (RFC 5802, RFC 9266, RFC 5929, XEP-0440).

slixmpp cannot do -PLUS on TLS 1.3 (the standard library has no TLS exporter), so this test plays the client
itself on a raw TLS socket, computing the client side of SCRAM from the RFC's formulas.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from xmppd.server import Server
from xmppd.transport import tls
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_SASL, NS_SASL_CB
from xmppd.xml.parser import StreamParser

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)

pytestmark = pytest.mark.skipif(
    not tls.tls_exporter_supported(), reason="the TLS exporter cannot be reached in this Python build"
)


@dataclass
class RawClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    parser: StreamParser

    @property
    def ssl_object(self) -> ssl.SSLObject:
        obj = self.writer.get_extra_info("ssl_object")
        assert isinstance(obj, ssl.SSLObject)
        return obj

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def element(self) -> Element:
        while True:
            for event in self.parser.feed(b""):
                if isinstance(event, Element):
                    return event
            chunk = await asyncio.wait_for(self.reader.read(65536), 5)
            assert chunk, "the server closed the connection"
            for event in self.parser.feed(chunk):
                if isinstance(event, Element):
                    return event


@pytest.fixture
async def client(server: Server) -> AsyncIterator[RawClient]:
    context = ssl.create_default_context(cafile=str(server.config.certificate_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    port = server.listeners.c2s_direct_tls[0][1]
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    raw = RawClient(reader, writer, StreamParser())
    yield raw
    writer.close()


async def features(client: RawClient) -> Element:
    await client.send(HEADER)
    return await client.element()


def _h(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _hmac(name: str, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, name).digest()


async def scram(
    client: RawClient, mechanism: str, gs2_header: bytes, cb_data: bytes, password: str = "secret"
) -> Element:
    """Run SCRAM as alice; returns the server's final <success/> or <failure/>, checking its signature."""
    name = "sha256" if "SHA-256" in mechanism else "sha1"
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = f"n=alice,r={nonce}".encode()
    await client.send(
        f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>".encode()
        + base64.b64encode(gs2_header + first_bare)
        + b"</auth>"
    )
    challenge = await client.element()
    if challenge.name != "challenge":
        return challenge
    server_first = base64.b64decode(challenge.text)
    fields = dict(item.split(b"=", 1) for item in server_first.split(b","))
    assert fields[b"r"].startswith(nonce.encode())
    salted = hashlib.pbkdf2_hmac(name, password.encode(), base64.b64decode(fields[b"s"]), int(fields[b"i"]))
    final_bare = b"c=" + base64.b64encode(gs2_header + cb_data) + b",r=" + fields[b"r"]
    auth_message = first_bare + b"," + server_first + b"," + final_bare
    client_key = _hmac(name, salted, b"Client Key")
    signature = _hmac(name, _h(name, client_key), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    final = final_bare + b",p=" + base64.b64encode(proof)
    await client.send(f"<response xmlns='{NS_SASL}'>".encode() + base64.b64encode(final) + b"</response>")
    outcome = await client.element()
    if outcome.name == "success":
        server_signature = _hmac(name, _hmac(name, salted, b"Server Key"), auth_message)
        assert base64.b64decode(outcome.text) == b"v=" + base64.b64encode(server_signature)
    return outcome


async def test_plus_mechanisms_and_binding_types_are_advertised(client: RawClient) -> None:
    offered = await features(client)
    mechanisms = {m.text for m in offered.find("mechanisms", NS_SASL).find_all("mechanism")}  # type: ignore[union-attr]
    assert {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} <= mechanisms
    cb = offered.find("sasl-channel-binding", NS_SASL_CB)
    assert cb is not None
    assert {c.attrs["type"] for c in cb.find_all("channel-binding")} == {
        "tls-exporter",
        "tls-server-end-point",
    }


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
async def test_tls_exporter_binding(client: RawClient, mechanism: str) -> None:
    await features(client)
    exported = tls.tls_exporter(client.ssl_object)
    assert exported is not None and len(exported) == 32
    outcome = await scram(client, mechanism, b"p=tls-exporter,,", exported)
    assert outcome.name == "success", outcome


async def test_tls_server_end_point_binding(client: RawClient) -> None:
    await features(client)
    certificate = client.ssl_object.getpeercert(binary_form=True)
    assert certificate is not None
    binding = hashlib.sha256(certificate).digest()  # the self-signed certificate is signed with SHA-256
    outcome = await scram(client, "SCRAM-SHA-256-PLUS", b"p=tls-server-end-point,,", binding)
    assert outcome.name == "success", outcome


async def test_wrong_binding_data_is_refused(client: RawClient) -> None:
    await features(client)
    outcome = await scram(client, "SCRAM-SHA-256-PLUS", b"p=tls-exporter,,", secrets.token_bytes(32))
    assert outcome.name == "failure" and outcome.find("not-authorized") is not None


async def test_downgrade_is_detected(client: RawClient) -> None:
    """RFC 5802 section 6: 'y' says the client thinks the server has no binding; this server offers one."""
    await features(client)
    outcome = await scram(client, "SCRAM-SHA-256", b"y,,", b"")
    assert outcome.name == "failure"


async def test_plain_scram_without_binding_still_works(client: RawClient) -> None:
    await features(client)
    outcome = await scram(client, "SCRAM-SHA-256", b"n,,", b"")
    assert outcome.name == "success", outcome
