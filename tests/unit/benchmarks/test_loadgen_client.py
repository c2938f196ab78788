"""The load generator's client against a scripted in-process server (no TLS): negotiation in the styles of
different servers, SCRAM with the server's signature checked, stanzas after binding, registration, close."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest

from benchmarks.loadgen.client import Settings, XmppError, open_session, register_account
from benchmarks.loadgen.scanner import make_token, parse_token
from tests.unit.benchmarks.scripted import ScriptedStream

SALT = b"0123456789abcdef"
ITERATIONS = 4096
NS_SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"


class ScriptedServer(ScriptedStream):
    """Just enough of a c2s stream: double-quoted, ejabberd-like output, and stanzas written in pieces."""

    def __init__(self, mechanisms: list[bytes], password: str, existing: set[str]) -> None:
        super().__init__()
        self.mechanisms = mechanisms
        self.password = password
        self.existing = existing
        self.authenticated = False
        self.auth_message = b""
        self.salted = b""

    def step(self) -> bool:
        buf = self.buffer
        if buf.startswith(b"<?xml"):
            self.take(b"?>")
            return True
        if buf.startswith(b"<stream:stream"):
            self.take(b">")
            self.write(
                b'<?xml version="1.0"?><stream:stream xmlns="jabber:client" '
                b'xmlns:stream="http://etherx.jabber.org/streams" id="s1" from="localhost" version="1.0">'
            )
            if self.authenticated:
                features = (
                    b'<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'
                    b'<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session></stream:features>'
                )
            else:
                mechs = b"".join(b"<mechanism>" + m + b"</mechanism>" for m in self.mechanisms)
                features = (
                    b'<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">'
                    + mechs
                    + b"</mechanisms>"
                    b'<register xmlns="http://jabber.org/features/iq-register"/></stream:features>'
                )
            self.write(features)
            return True
        if buf.startswith(b"<auth"):
            element = self.take(b"</auth>")
            if element is None:
                return False
            data = base64.b64decode(element[element.index(b">") + 1 : element.index(b"</auth>")])
            if b"mechanism='PLAIN'" in element:
                if data == b"\0bench3\0" + self.password.encode():
                    self.succeed(b"")
                else:
                    self.write(
                        b'<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>'
                    )
                return True
            self.client_first_bare = data[3:]
            nonce = dict(part.split(b"=", 1) for part in self.client_first_bare.split(b","))[b"r"] + b"srv"
            self.server_first = b"r=" + nonce + b",s=" + base64.b64encode(SALT) + b",i=%d" % ITERATIONS
            self.write(b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>")
            self.write(base64.b64encode(self.server_first) + b"</challenge>")
            return True
        if buf.startswith(b"<response"):
            element = self.take(b"</response>")
            if element is None:
                return False
            final = base64.b64decode(element[element.index(b">") + 1 : element.index(b"</response>")])
            without_proof, _, proof = final.rpartition(b",p=")
            auth_message = self.client_first_bare + b"," + self.server_first + b"," + without_proof
            salted = hashlib.pbkdf2_hmac("sha1", self.password.encode(), SALT, ITERATIONS)
            client_key = hmac.digest(salted, b"Client Key", "sha1")
            stored_key = hashlib.sha1(client_key).digest()
            signature = hmac.digest(stored_key, auth_message, "sha1")
            expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
            if base64.b64decode(proof) != expected:
                self.write(b'<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>')
                return True
            server_signature = hmac.digest(hmac.digest(salted, b"Server Key", "sha1"), auth_message, "sha1")
            self.succeed(b"v=" + base64.b64encode(server_signature))
            return True
        if buf.startswith(b"<iq"):
            element = self.take(b"</iq>")
            if element is None:
                return False
            iq_id = element.split(b"id='", 1)[1].split(b"'", 1)[0]
            if b"jabber:iq:register" in element:
                user = element.split(b"<username>", 1)[1].split(b"</username>", 1)[0].decode()
                if user in self.existing:
                    self.write(
                        b'<iq type="error" id="' + iq_id + b'"><error type="cancel">'
                        b'<conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
                    )
                else:
                    self.existing.add(user)
                    self.write(b'<iq xmlns="jabber:client" type="result" id="' + iq_id + b'"/>')
                return True
            if b"xmpp-bind" in element:
                self.write(
                    b'<iq xmlns="jabber:client" type="result" id="' + iq_id + b'"><bind '
                    b'xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>bench3@localhost/lg</jid></bind></iq>'
                )
                return True
            self.write(b'<iq type="result" id="' + iq_id + b'"/>')
            return True
        if buf.startswith(b"<presence/>"):
            self.take(b"<presence/>")
            # Two messages and a presence, written in pieces that split elements.
            message = (
                b'<message xmlns="jabber:client" type="chat" from="bench2@localhost/x" to="bench3@localhost/lg">'
                b"<body>" + make_token(2, 0, 1) + b"</body></message>"
            )
            data = (
                message
                + message.replace(b".0000000000.", b".0000000001.")
                + b'<presence from="x@localhost"/>'
            )
            for i in range(0, len(data), 37):
                self.write(data[i : i + 37])
            return True
        if buf.startswith(b"</stream:stream>"):
            self.take(b"</stream:stream>")
            self.write(b"</stream:stream>")
            assert self.transport is not None
            self.transport.close()
            return True
        if buf and not buf.startswith(b"<"):
            self.buffer = buf.lstrip()
            return bool(self.buffer) and self.buffer != buf
        return False

    def succeed(self, data: bytes) -> None:
        self.authenticated = True
        content = base64.b64encode(data) if data else b""
        self.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + content + b"</success>")


@pytest.fixture
async def server_port() -> AsyncIterator[tuple[int, list[ScriptedServer]]]:
    loop = asyncio.get_running_loop()
    protocols: list[ScriptedServer] = []
    existing: set[str] = {"bench1"}

    def factory() -> ScriptedServer:
        protocol = ScriptedServer([b"SCRAM-SHA-1", b"PLAIN"], "bench3-secret", existing)
        protocols.append(protocol)
        return protocol

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, protocols
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "PLAIN"])
async def test_login_receive_close(server_port: tuple[int, list[ScriptedServer]], mech: str) -> None:
    port, _ = server_port
    settings = Settings("127.0.0.1", port, "localhost", tls="plain", mech=mech, timeout=5)
    messages: list[bytes] = []
    presences: list[bytes] = []
    conn = await open_session(
        settings, 3, resource="lg", presence=True, on_message=messages.append, on_presence=presences.append
    )
    assert conn.jid == "bench3@localhost/lg"
    for _ in range(100):
        if len(presences) == 1:
            break
        await asyncio.sleep(0.01)
    assert [parse_token(raw) for raw in messages] == [(2, 0, 1), (2, 1, 1)]
    assert presences == [b'<presence from="x@localhost"/>']
    await conn.ping()
    await conn.close(timeout=2)
    assert conn.failure is None


async def test_wrong_password_is_a_sasl_failure(server_port: tuple[int, list[ScriptedServer]]) -> None:
    port, _ = server_port
    settings = Settings("127.0.0.1", port, "localhost", tls="plain", timeout=5, prefix="bench")
    with pytest.raises(XmppError, match="not-authorized"):
        await open_session(settings, 4, resource="lg")  # password bench4-secret: wrong for this server


async def test_missing_mechanism(server_port: tuple[int, list[ScriptedServer]]) -> None:
    port, _ = server_port
    settings = Settings("127.0.0.1", port, "localhost", tls="plain", mech="SCRAM-SHA-256", timeout=5)
    with pytest.raises(XmppError, match="does not offer SCRAM-SHA-256"):
        await open_session(settings, 3, resource="lg")


async def test_registration(server_port: tuple[int, list[ScriptedServer]]) -> None:
    port, _ = server_port
    settings = Settings("127.0.0.1", port, "localhost", tls="plain", timeout=5)
    assert await register_account(settings, 5) is True
    assert await register_account(settings, 5) is False  # conflict: exists now
    assert await register_account(settings, 1) is False


async def test_starttls_required_but_not_offered(server_port: tuple[int, list[ScriptedServer]]) -> None:
    port, _ = server_port
    settings = Settings("127.0.0.1", port, "localhost", tls="starttls", timeout=5)
    with pytest.raises(XmppError, match="no STARTTLS"):
        await open_session(settings, 3, resource="lg")
