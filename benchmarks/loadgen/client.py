"""A minimal XMPP client connection (RFC 6120/6121) for load generation.

One ``XmppConnection`` is an asyncio protocol over one TCP connection: stream header, STARTTLS (or direct TLS,
or none), SASL (SCRAM-SHA-1, SCRAM-SHA-256, PLAIN), stream restart, resource binding, optional initial
presence. Received bytes are cut into top-level elements by the scanner (scanner.py); negotiation reads what it
needs from those with a few regular expressions (no tree is built: it would be a good share of a login's work),
and once the session is established the elements are handed raw to the scenario's callbacks, so that the
generator does as little work per stanza as it can. Roster results (setup only) are parsed with expat.

Also: XEP-0077 in-band registration (before authentication), roster sets and gets, IQ requests and answers to
the server's pings, and a clean close.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, cast
from xml.sax.saxutils import escape, quoteattr

from .scanner import (
    END,
    HEADER,
    ScanError,
    StanzaScanner,
    attribute,
    condition,
    local_names,
    session_required,
    text,
    texts,
)
from .scram import SCRAM_HASHES, SaslError, ScramCache, ScramClient, plain_message

NS_STREAMS: Final = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS: Final = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS: Final = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL: Final = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND: Final = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION: Final = "urn:ietf:params:xml:ns:xmpp-session"
NS_STANZAS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_REGISTER: Final = "jabber:iq:register"
NS_ROSTER: Final = "jabber:iq:roster"
NS_PING: Final = "urn:xmpp:ping"

TLS_MODES: Final = ("starttls", "direct", "plain")
CLOSE_TAG: Final = b"</stream:stream>"
PRESENCE: Final = b"<presence/>"
UNAVAILABLE: Final = b"<presence type='unavailable'/>"

# Linux: bind() to an address without reserving a port; the port is chosen at connect() (by the 4-tuple).
_IP_BIND_ADDRESS_NO_PORT: Final = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


class XmppError(Exception):
    """Negotiation or a request failed: a stream error, a SASL failure, an unexpected element or close."""


@dataclass
class Settings:
    """Where and how to connect, shared by all connections of a run."""

    host: str
    port: int
    domain: str
    tls: str = "starttls"
    mech: str = "SCRAM-SHA-1"
    timeout: float = 30.0
    source_addresses: Sequence[str] = ()
    prefix: str = "bench"
    scram_cache: ScramCache = field(default_factory=ScramCache)
    _address: tuple[int, tuple[str, int]] | None = field(default=None, init=False, repr=False)
    _ssl: ssl.SSLContext | None = field(default=None, init=False, repr=False)
    _sources: itertools.cycle[str] | None = field(default=None, init=False, repr=False)

    def username(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def password(self, index: int) -> str:
        return f"{self.prefix}{index}-secret"

    def bare_jid(self, index: int) -> str:
        return f"{self.prefix}{index}@{self.domain}"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # servers under test use self-signed certificates
            if self.tls == "direct":
                context.set_alpn_protocols(["xmpp-client"])  # XEP-0368
            self._ssl = context
        return self._ssl

    async def address(self) -> tuple[int, tuple[str, int]]:
        if self._address is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError(f"cannot resolve {self.host}")
            family, _, _, _, sockaddr = infos[0]
            self._address = (family, (str(sockaddr[0]), int(sockaddr[1])))
        return self._address

    def next_source(self) -> str | None:
        """The local address for the next connection (round robin), or None for the system's choice."""
        if not self.source_addresses:
            return None
        if self._sources is None:
            self._sources = itertools.cycle(self.source_addresses)
        return next(self._sources)


def _ignore(raw: bytes) -> None:
    pass


class XmppConnection(asyncio.Protocol):
    """One client stream. Use ``open_session()`` (or ``register_account()``) rather than building one."""

    def __init__(self, settings: Settings, label: str) -> None:
        self.settings = settings
        self.label = label
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.scanner = StanzaScanner()
        self.established = False
        self.jid = ""  # the full JID bound
        self.stream_features: bytes | None = None
        self.failure: str | None = None  # why the connection ended, when not by our close()
        self.closing = False
        # Established-state callbacks (raw stanza bytes), set by the scenario.
        self.on_message: Callable[[bytes], None] = _ignore
        self.on_presence: Callable[[bytes], None] = _ignore
        self.on_batch_end: Callable[[], None] | None = None
        self.on_lost: Callable[[XmppConnection], None] | None = None
        self._inbox: deque[tuple[bytes, bytes]] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] = self.loop.create_future()
        self._iq_waiters: dict[bytes, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        try:
            items = self.scanner.feed(data)
        except ScanError as exc:
            self._fail(f"unparsable input: {exc}")
            return
        if not self.established:
            self._inbox.extend(items)
            self._wake()
            return
        on_message = self.on_message
        on_presence = self.on_presence
        for name, raw in items:
            if name == b"message":
                on_message(raw)
            elif name == b"presence":
                on_presence(raw)
            elif name == b"iq":
                self._on_iq(raw)
            else:
                self._on_other(name, raw)
        if self.on_batch_end is not None:
            self.on_batch_end()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing and self.failure is None:
            self.failure = f"connection closed: {exc}" if exc else "connection closed by the server"
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()
        for waiter in self._iq_waiters.values():
            if not waiter.done():
                waiter.set_exception(XmppError(self.failure or "connection closed"))
        self._iq_waiters.clear()
        if not self.closing and self.on_lost is not None:
            self.on_lost(self)

    # -- established state -------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    @property
    def alive(self) -> bool:
        return not self._lost.done() and self.failure is None

    def _on_iq(self, raw: bytes) -> None:
        kind = attribute(raw, b"type")
        if kind in (b"result", b"error"):
            waiter = self._iq_waiters.pop(attribute(raw, b"id") or b"", None)
            if waiter is not None and not waiter.done():
                waiter.set_result(raw)
            return
        # A request from the server (a ping, a roster push): answer it.
        iq_id = attribute(raw, b"id") or b""
        sender = attribute(raw, b"from")
        to = b" to='" + sender + b"'" if sender else b""
        if NS_PING.encode() in raw or NS_ROSTER.encode() in raw:
            self.send(b"<iq type='result' id='" + iq_id + b"'" + to + b"/>")
        else:
            self.send(
                b"<iq type='error' id='" + iq_id + b"'" + to + b"><error type='cancel'>"
                b"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )

    def _on_other(self, name: bytes, raw: bytes) -> None:
        if name == b"error":
            self.failure = f"stream error: {self._stream_error(raw)}"
        elif name == END:
            if not self.closing:
                self.failure = self.failure or "stream closed by the server"
                self._close_transport()
            else:
                # The server answered our closing tag; it normally closes the connection now (so that TIME_WAIT
                # stays on its side). If it waits for us instead, do not wait long.
                self.loop.call_later(0.5, self._close_transport)

    async def iq(self, kind: str, payload: str, to: str | None = None) -> bytes:
        """Send an IQ request (established state) and return the raw answer (result or error)."""
        iq_id = f"q{next(self._ids)}"
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        self._iq_waiters[iq_id.encode()] = waiter
        to_attr = f" to={quoteattr(to)}" if to else ""
        self.send(f"<iq type='{kind}' id='{iq_id}'{to_attr}>{payload}</iq>".encode())
        if self._lost.done():
            self._iq_waiters.pop(iq_id.encode(), None)
            raise XmppError(self.failure or "connection closed")
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await waiter
        finally:
            self._iq_waiters.pop(iq_id.encode(), None)

    def iq_nowait(self, kind: str, payload: str) -> asyncio.Future[bytes]:
        """Send an IQ request and return the future of its answer (no timeout)."""
        iq_id = f"q{next(self._ids)}"
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        if self._lost.done():
            waiter.set_exception(XmppError(self.failure or "connection closed"))
            return waiter
        self._iq_waiters[iq_id.encode()] = waiter
        self.send(f"<iq type='{kind}' id='{iq_id}'>{payload}</iq>".encode())
        return waiter

    async def ping(self) -> None:
        answer = await self.iq("get", f"<ping xmlns='{NS_PING}'/>")
        if attribute(answer, b"type") != b"result":
            raise XmppError(f"ping failed: {answer[:200]!r}")

    async def close(self, timeout: float = 5.0) -> None:
        """Send the stream's closing tag and wait (a while) for the server to close the connection.

        Waiting for the server to close first leaves the TIME_WAIT state on its side, not ours."""
        if self.transport is None:
            return
        already = self.closing
        self.closing = True
        if already or self._lost.done():
            self._close_transport()
            return
        self.send(CLOSE_TAG)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._lost)
        except TimeoutError:
            pass
        finally:
            self._close_transport()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        if self.transport is not None:
            self.transport.abort()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- negotiation -------------------------------------------------------------------------------------------

    async def _next(self) -> tuple[bytes, bytes]:
        while not self._inbox:
            if self._lost.done():
                raise XmppError(self.failure or "connection closed during negotiation")
            self._wakeup = self.loop.create_future()
            await self._wakeup
            self._wakeup = None
        name, raw = self._inbox.popleft()
        if name == b"error":
            raise XmppError(f"stream error: {self._stream_error(raw)}")
        if name == END:
            raise XmppError("stream closed by the server during negotiation")
        return name, raw

    def _stream_error(self, raw: bytes) -> str:
        name = condition(raw)
        message = text(raw, b"text")
        return f"{name} ({message.decode(errors='replace')})" if message else name

    async def _open_stream(self) -> bytes:
        """Send a stream header; read the server's header and features."""
        self.scanner.restart()
        self.send(
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='"
            + NS_STREAMS.encode()
            + b"' to="
            + quoteattr(self.settings.domain).encode()
            + b" version='1.0'>"
        )
        name, _ = await self._next()
        if name != HEADER:
            raise XmppError(f"expected a stream header, got {name!r}")
        name, features = await self._next()
        if name != b"features":
            raise XmppError(f"expected stream features, got {name!r}")
        self.stream_features = features
        return features

    async def _starttls(self, features: bytes) -> bytes:
        if b"starttls" not in local_names(features):
            raise XmppError("the server offers no STARTTLS")
        self.send(f"<starttls xmlns='{NS_TLS}'/>".encode())
        name, answer = await self._next()
        if name != b"proceed":
            raise XmppError(f"STARTTLS refused: {answer[:200]!r}")
        assert self.transport is not None
        transport = await self.loop.start_tls(
            self.transport, self, self.settings.ssl_context, server_hostname=self.settings.domain
        )
        if transport is None:
            raise XmppError("STARTTLS: no transport")
        self.transport = transport
        return await self._open_stream()

    async def _secure(self) -> bytes:
        """Open the stream and negotiate TLS as the settings ask; return the features after it."""
        features = await self._open_stream()
        if self.settings.tls == "starttls":
            features = await self._starttls(features)
        return features

    async def _authenticate(self, features: bytes, index: int) -> None:
        settings = self.settings
        mech = settings.mech
        mechanisms = [m.strip().decode(errors="replace") for m in texts(features, b"mechanism")]
        if mech not in mechanisms:
            raise XmppError(f"the server does not offer {mech} (offers {mechanisms})")
        username, password = settings.username(index), settings.password(index)
        scram: ScramClient | None = None
        if mech in SCRAM_HASHES:
            scram = ScramClient(mech, username, password, settings.scram_cache)
            initial = scram.first()
        else:
            initial = plain_message(username, password)
        self.send(
            f"<auth xmlns='{NS_SASL}' mechanism='{mech}'>{base64.b64encode(initial).decode()}</auth>".encode()
        )
        verified = scram is None
        while True:
            name, answer = await self._next()
            content = (text(answer, name) or b"").strip()
            try:
                data = base64.b64decode(content, validate=True) if content and content != b"=" else b""
            except ValueError:
                raise XmppError(f"SASL {mech}: bad base64 in {answer[:200]!r}") from None
            try:
                if name == b"challenge" and scram is not None:
                    if not scram.final_sent:
                        response = base64.b64encode(scram.final(data)).decode()
                        self.send(f"<response xmlns='{NS_SASL}'>{response}</response>".encode())
                    else:  # server-final-message in a challenge (RFC 6120 allows it): verify, answer empty
                        scram.verify(data)
                        verified = True
                        self.send(f"<response xmlns='{NS_SASL}'/>".encode())
                    continue
                if name == b"success":
                    if scram is not None and not verified:
                        scram.verify(data)
                    return
            except SaslError as exc:
                raise XmppError(f"SASL {mech}: {exc}") from None
            if name == b"failure":
                raise XmppError(f"SASL failure: {condition(answer)}")
            raise XmppError(f"unexpected element during SASL: {answer[:200]!r}")

    async def _negotiation_iq(self, kind: str, payload: str) -> bytes:
        iq_id = f"n{next(self._ids)}"
        self.send(f"<iq type='{kind}' id='{iq_id}'>{payload}</iq>".encode())
        expected = iq_id.encode()
        while True:
            name, raw = await self._next()
            if name == b"iq" and attribute(raw, b"id") == expected:
                return raw
            # Anything else before the answer (there should be nothing) is ignored.

    async def _bind(self, resource: str) -> None:
        features = self.stream_features or b""
        if b"bind" not in local_names(features):
            raise XmppError("the server offers no resource binding")
        answer = await self._negotiation_iq(
            "set", f"<bind xmlns='{NS_BIND}'><resource>{escape(resource)}</resource></bind>"
        )
        jid = text(answer, b"jid")
        if attribute(answer, b"type") != b"result" or not jid:
            raise XmppError(f"bind failed: {condition(answer, b'error')}")
        self.jid = jid.decode()
        if session_required(features):
            # RFC 3921 section 3: old servers require session establishment.
            answer = await self._negotiation_iq("set", f"<session xmlns='{NS_SESSION}'/>")
            if attribute(answer, b"type") != b"result":
                raise XmppError(f"session establishment failed: {condition(answer, b'error')}")

    def _establish(self) -> None:
        """Switch to the established state; stanzas already received go through the callbacks."""
        self.established = True
        if self._inbox:
            pending = list(self._inbox)
            self._inbox.clear()
            for name, raw in pending:
                if name == b"message":
                    self.on_message(raw)
                elif name == b"presence":
                    self.on_presence(raw)
                elif name == b"iq":
                    self._on_iq(raw)
                else:
                    self._on_other(name, raw)

    async def _register(self, index: int) -> bool:
        """XEP-0077 registration of account index: True if created, False if it existed already."""
        settings = self.settings
        answer = await self._negotiation_iq(
            "set",
            f"<query xmlns='{NS_REGISTER}'><username>{escape(settings.username(index))}</username>"
            f"<password>{escape(settings.password(index))}</password></query>",
        )
        if attribute(answer, b"type") == b"result":
            return True
        reason = condition(answer, b"error")
        if reason == "conflict":
            return False
        raise XmppError(f"registration refused: {reason}")


async def _connect(settings: Settings, label: str) -> XmppConnection:
    loop = asyncio.get_running_loop()
    family, address = await settings.address()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        source = settings.next_source()
        if source is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        await loop.sock_connect(sock, address)
        direct = settings.tls == "direct"
        _, protocol = await loop.create_connection(
            lambda: XmppConnection(settings, label),
            sock=sock,
            ssl=settings.ssl_context if direct else None,
            server_hostname=settings.domain if direct else None,
        )
    except BaseException:
        sock.close()
        raise
    return protocol


async def open_session(
    settings: Settings,
    index: int,
    *,
    resource: str,
    presence: bool = False,
    on_message: Callable[[bytes], None] | None = None,
    on_presence: Callable[[bytes], None] | None = None,
) -> XmppConnection:
    """Log account index in: connect, TLS, SASL, bind, and (optionally) initial presence.

    The callbacks are installed before the session is established, so nothing received is missed. Raises
    XmppError, OSError or TimeoutError (after settings.timeout); the connection is closed then.
    """
    conn: XmppConnection | None = None
    try:
        async with asyncio.timeout(settings.timeout):
            conn = await _connect(settings, settings.bare_jid(index))
            if on_message is not None:
                conn.on_message = on_message
            if on_presence is not None:
                conn.on_presence = on_presence
            features = await conn._secure()
            await conn._authenticate(features, index)
            await conn._open_stream()
            await conn._bind(resource)
            conn._establish()
            if presence:
                conn.send(PRESENCE)
            return conn
    except BaseException:
        if conn is not None:
            conn.abort()
        raise


async def register_account(settings: Settings, index: int) -> bool:
    """XEP-0077: create account index; True if created, False if it existed (a conflict)."""
    conn: XmppConnection | None = None
    try:
        async with asyncio.timeout(settings.timeout):
            conn = await _connect(settings, settings.bare_jid(index))
            await conn._secure()
            created = await conn._register(index)
        await conn.close(timeout=2.0)
        return created
    except BaseException:
        if conn is not None:
            conn.abort()
        raise


def roster_item(jid: str, group: str | None = None) -> str:
    group_xml = f"<group>{escape(group)}</group>" if group else ""
    return f"<query xmlns='{NS_ROSTER}'><item jid={quoteattr(jid)}>{group_xml}</item></query>"


def parse_roster(raw: bytes) -> dict[str, str]:
    """The items of a roster result: bare JID -> subscription (with ' pending' when ask='subscribe')."""
    element = ET.fromstring(b"<w xmlns='jabber:client'>" + raw + b"</w>")[0]
    items: dict[str, str] = {}
    for item in element.iterfind(f"{{{NS_ROSTER}}}query/{{{NS_ROSTER}}}item"):
        jid = item.get("jid")
        if jid:
            subscription = item.get("subscription", "none")
            items[jid] = subscription + (" pending" if item.get("ask") == "subscribe" else "")
    return items


async def roster_get(conn: XmppConnection) -> dict[str, str]:
    answer = await conn.iq("get", f"<query xmlns='{NS_ROSTER}'/>")
    if attribute(answer, b"type") != b"result":
        raise XmppError(f"roster get failed: {answer[:200]!r}")
    return parse_roster(answer)


def now_ns() -> int:
    return time.perf_counter_ns()
