"""A minimal XMPP client for benchmarks: connect, STARTTLS (or direct TLS, or none), SCRAM-SHA-1, bind, presence.

It speaks just enough of RFC 6120 to measure a server, any server, from outside: no XML parser (it waits for the
closing tag of the element it expects), no stanza handling after login. The SCRAM salted password is cached per
(password, salt, iterations), so that a login storm measures the server's work, not this client's PBKDF2.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

TLSMode = Literal["plain", "starttls", "direct"]

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_REGISTER = "jabber:iq:register"


class LoginError(Exception):
    """The server refused or broke off a step."""


@dataclass(frozen=True, slots=True)
class Target:
    address: str
    port: int
    domain: str
    tls: TLSMode


def client_tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # benchmark servers use throwaway certificates
    return context


@lru_cache(maxsize=100_000)
def _salted(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)


def _header(domain: str) -> bytes:
    return (
        f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    ).encode()


_FEATURES_END = re.compile(rb"</(?:stream:)?features>|<(?:stream:)?features[^>]*/>")
_STREAM_ERROR = re.compile(rb"<(?:stream:)?error[ >]")


class Connection:
    """One client connection; ``await login()`` leaves it bound (and available, if asked)."""

    def __init__(self, target: Target, context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.context = context or client_tls_context()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._buffer = b""

    async def open(self) -> None:
        target = self.target
        self.reader, self.writer = await asyncio.open_connection(
            target.address,
            target.port,
            ssl=self.context if target.tls == "direct" else None,
            server_hostname=target.domain if target.tls == "direct" else None,
            limit=1 << 20,
        )
        await self._stream()
        if target.tls == "starttls":
            self._send(f"<starttls xmlns='{NS_TLS}'/>".encode())
            await self._until(re.compile(rb"<proceed[^>]*>"))
            assert self.writer is not None
            await self.writer.start_tls(self.context, server_hostname=target.domain)
            self._buffer = b""
            await self._stream()

    async def login(self, username: str, password: str, *, presence: bool = True) -> None:
        """SCRAM-SHA-1, bind (a server-generated resource), initial presence."""
        if self.writer is None:
            await self.open()
        nonce = secrets.token_urlsafe(18)
        bare = f"n={username},r={nonce}"
        first = base64.b64encode(b"n,," + bare.encode()).decode()
        self._send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{first}</auth>".encode())
        challenge = base64.b64decode(await self._sasl_data(b"challenge"))
        fields = dict(item.split(b"=", 1) for item in challenge.split(b","))
        server_nonce = fields[b"r"].decode()
        if not server_nonce.startswith(nonce):
            raise LoginError("bad server nonce")
        salted = _salted(password, base64.b64decode(fields[b"s"]), int(fields[b"i"]))
        without_proof = f"c=biws,r={server_nonce}"
        auth_message = f"{bare},{challenge.decode()},{without_proof}".encode()
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        signature = hmac.digest(hashlib.sha1(client_key).digest(), auth_message, "sha1")
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
        final = base64.b64encode(f"{without_proof},p={proof}".encode()).decode()
        self._send(f"<response xmlns='{NS_SASL}'>{final}</response>".encode())
        success = base64.b64decode(await self._sasl_data(b"success"))
        server_key = hmac.digest(salted, b"Server Key", "sha1")
        expected = b"v=" + base64.b64encode(hmac.digest(server_key, auth_message, "sha1"))
        if success != expected:
            raise LoginError("bad server signature")
        self._buffer = b""
        await self._stream()
        self._send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'/></iq>".encode())
        bound = await self._until(re.compile(rb"<iq[^>]*>.*?</iq>|<iq[^>]*/>", re.DOTALL))
        if b"result" not in bound:
            raise LoginError("bind failed")
        if presence:
            self._send(b"<presence/>")
        await self._drain()

    async def register(self, username: str, password: str) -> bool:
        """XEP-0077 in-band registration before authentication; True when created (False: it exists)."""
        if self.writer is None:
            await self.open()
        self._send(
            f"<iq type='set' id='reg1'><query xmlns='{NS_REGISTER}'><username>{username}</username>"
            f"<password>{password}</password></query></iq>".encode()
        )
        answer = await self._until(re.compile(rb"<iq[^>]*>.*?</iq>|<iq[^>]*/>", re.DOTALL))
        if b"type='result'" in answer or b'type="result"' in answer:
            return True
        if b"conflict" in answer:
            return False
        raise LoginError(f"registration failed: {answer[:200]!r}")

    async def close(self) -> None:
        """Send the closing tag, wait for the server's (or EOF), close the socket."""
        if self.writer is None:
            return
        try:
            self._send(b"</stream:stream>")
            await self._drain()
            with contextlib.suppress(TimeoutError, LoginError):
                await asyncio.wait_for(self._until(re.compile(rb"</stream:stream>"), eof_ok=True), 5.0)
        finally:
            self.abort()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # -- plumbing -------------------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def _drain(self) -> None:
        assert self.writer is not None
        await self.writer.drain()

    async def _stream(self) -> None:
        self._send(_header(self.target.domain))
        await self._until(_FEATURES_END)

    async def _sasl_data(self, name: bytes) -> bytes:
        pattern = re.compile(rb"<(challenge|success|failure)[^>]*?(?:/>|>(.*?)</\1>)", re.DOTALL)
        found = await self._until(pattern)
        match = pattern.search(found)
        assert match is not None
        if match.group(1) != name:
            raise LoginError(f"SASL: expected {name.decode()}, got {found[:200]!r}")
        return (match.group(2) or b"").strip()

    async def _until(self, pattern: re.Pattern[bytes], *, eof_ok: bool = False) -> bytes:
        """Read until ``pattern`` matches; returns (and consumes) the buffer up to the end of the match."""
        assert self.reader is not None
        while True:
            match = pattern.search(self._buffer)
            if match is not None:
                found, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
                return found
            if _STREAM_ERROR.search(self._buffer):
                raise LoginError(f"stream error: {self._buffer[-300:]!r}")
            data = await self.reader.read(65536)
            if not data:
                if eof_ok:
                    return b""
                raise LoginError(f"connection closed; received {self._buffer[-300:]!r}")
            self._buffer += data
