"""A client session: the sans-IO c2s stream joined to a connection, the session table, storage and the router.

The stream decides everything about the protocol; this class carries out what its events ask for (start TLS,
look up credentials, register an account in-band, bind a resource, route a stanza) and feeds the results back
in. While one of those needs to wait (a storage lookup, the TLS handshake, a failed-login delay) reading is paused
and later bytes are kept, so the stream sees its input in order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xmppd import hooks
from xmppd.errors import JIDError, StanzaError, StorageError, StreamError
from xmppd.jid import JID, prep_localpart
from xmppd.logs import SessionLogger
from xmppd.routing.router import Router
from xmppd.routing.sessions import SessionTable
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import (
    Authenticated,
    AuthFailed,
    BindRequested,
    CredentialsNeeded,
    Event,
    RegistrationRequested,
    ResourceBound,
    StanzaReceived,
    StreamClosed,
    StreamOpened,
    TLSRequested,
)
from xmppd.transport import tls
from xmppd.transport.limits import AuthThrottle, TokenBucket
from xmppd.transport.tcp import Connection
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT
from xmppd.xml.stanza import error_reply

if TYPE_CHECKING:
    import ssl

    from xmppd.host import Host

log = logging.getLogger(__name__)

# How long to wait for the client's closing tag after ours before closing the socket (RFC 6120 section 4.4).
CLOSE_GRACE = 1.0

# Seconds without input after which a session's parse state is freed (``C2SStream.hibernate``): most sessions are
# idle most of the time, and a parser's buffers are most of what an idle session would otherwise hold.
HIBERNATE_AFTER = 0.25

Registrar = Callable[["Host", Element, str], Awaitable[Element]]
"""Answers an in-band registration IQ sent before authentication: ``(host, iq, client address) -> reply``
(``xmppd.modules.register.answer_before_auth``)."""


@dataclass(frozen=True, slots=True)
class C2SEnvironment:
    """What every client session of a server shares."""

    stream_config: C2SConfig
    hosts: dict[str, Host]
    router: Router
    sessions: SessionTable
    tls_context: ssl.SSLContext | None
    certificate_der: bytes
    throttle: AuthThrottle
    auth_timeout: float
    rate_limit: int
    rate_burst: int
    max_send_buffer: int
    on_close: Callable[[ClientSession], None]
    registrar: Registrar | None = None
    """Who answers ``RegistrationRequested`` (None: every such request is answered service-unavailable)."""
    hibernation: Hibernation = field(default_factory=lambda: Hibernation(HIBERNATE_AFTER))


class Hibernation:
    """Puts the streams of sessions that went quiet to sleep (``ClientSession.hibernate``).

    A session that receives bytes is awake; one timer for all of them (running only while any is) looks every
    ``after`` seconds for those that received nothing since the last look, so a session sleeps between ``after``
    and twice that after its last input.
    """

    __slots__ = ("_awake", "_timer", "after")

    def __init__(self, after: float) -> None:
        self.after = after
        self._awake: set[ClientSession] = set()
        self._timer: asyncio.TimerHandle | None = None

    def woke(self, session: ClientSession) -> None:
        self._awake.add(session)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.after, self._look)

    def forget(self, session: ClientSession) -> None:
        self._awake.discard(session)

    def _look(self) -> None:
        self._timer = None
        quiet_since = time.monotonic() - self.after
        awake = self._awake
        for session in [session for session in awake if session.last_activity <= quiet_since]:
            if session.hibernate():
                awake.discard(session)
        if awake:
            self._timer = asyncio.get_running_loop().call_later(self.after, self._look)


class ClientSession:
    """One client connection from accept to close; implements ``LocalSession`` once bound."""

    def __init__(self, env: C2SEnvironment, connection: Connection, *, direct_tls: bool) -> None:
        self.env = env
        self.connection = connection
        self.jid: JID = JID.parse("unbound.invalid")
        self.priority = 0
        self.available = False
        self.presence: Element | None = None
        self.interested = False
        self.bound = False
        self.last_activity = time.monotonic()
        self.log = SessionLogger(log, f"c2s{id(self) & 0xFFFFFF:06x}")
        bindings: Mapping[str, bytes] = {}
        ssl_object = connection.ssl_object
        if direct_tls and ssl_object is not None:
            bindings = tls.ChannelBindings(ssl_object, env.certificate_der)
        self.stream = C2SStream(env.stream_config, secured=direct_tls, channel_bindings=bindings)
        self._busy = False
        self._inbox: list[bytes] = []
        self._bucket = TokenBucket(env.rate_limit, env.rate_burst, self.last_activity)
        loop = asyncio.get_running_loop()
        self._auth_timer: asyncio.TimerHandle | None = loop.call_later(env.auth_timeout, self._auth_timed_out)
        self._close_timer: asyncio.TimerHandle | None = None
        self._ended = False
        self._awake = False
        self.log.debug("connection from %s%s", connection.peer, " (direct TLS)" if direct_tls else "")

    def __repr__(self) -> str:
        return f"<ClientSession {self.jid if self.bound else self.connection.peer}>"

    # -- LocalSession ----------------------------------------------------------------------------------------

    def deliver(self, stanza: Element) -> None:
        """Queue a stanza for the client; it is written at the end of this loop iteration."""
        self.stream.send(stanza)
        self._after_output()

    def close(self, error: StreamError | None = None) -> None:
        self._handle(self.stream.close(error))

    # -- connection callbacks --------------------------------------------------------------------------------

    def pull_output(self) -> bytes:
        return self.stream.data_to_send()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.last_activity = now
        if not self._awake:
            self._awake = True
            self.env.hibernation.woke(self)
        if self._busy:
            self._inbox.append(data)
            self.connection.pause_reading()
            return
        self._handle(self.stream.receive_data(data))
        wait = self._bucket.consume(len(data), now)
        if wait > 0 and not self.stream.is_closed:
            # Over the byte rate: stop reading until the bucket has refilled (bytes are never dropped).
            self.connection.pause_reading()
            asyncio.get_running_loop().call_later(wait, self._rate_resume)

    def eof_received(self) -> None:
        self._handle(self.stream.receive_eof())

    def hibernate(self) -> bool:
        """The client went quiet: free what its stream holds only for input (see ``Hibernation``).

        False when the session is still busy with earlier input: ask again later.
        """
        if self._busy:
            return False
        self._awake = False
        self.stream.hibernate()
        return True

    def connection_lost(self) -> None:
        self._end()

    # -- events ----------------------------------------------------------------------------------------------

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, StanzaReceived):
                self.env.router.route(event.stanza, self)
            elif isinstance(event, StreamOpened):
                self.log.debug("stream opened to %s", event.host)
            elif isinstance(event, TLSRequested):
                self._wait_for(self._start_tls())
            elif isinstance(event, CredentialsNeeded):
                self._wait_for(self._lookup(event))
            elif isinstance(event, RegistrationRequested):
                self._wait_for(self._register(event))
            elif isinstance(event, AuthFailed):
                self._auth_failed(event)
            elif isinstance(event, Authenticated):
                self.env.throttle.succeeded(str(event.jid))
                self.log.info("authenticated as %s with %s", event.jid, event.mechanism)
            elif isinstance(event, BindRequested):
                self._bind(event)
            elif isinstance(event, ResourceBound):
                self._bound()
            elif isinstance(event, StreamClosed):
                self._stream_closed(event)
        if self.stream.has_data_to_send:
            # (Stanzas routed to other sessions are their output: a client that only sends needs no flush.)
            self._after_output()

    def _after_output(self) -> None:
        connection = self.connection
        connection.schedule_flush()
        if connection.send_buffer_size() > self.env.max_send_buffer and not self.stream.is_closed:
            # Back-pressure: the client does not read what we send it; bound what we keep for it.
            self.log.warning("client does not read: closing with policy-violation")
            # The error cannot reach a client that does not read: drop the connection, and the session with it
            # now, so that nothing more is routed to it.
            self.stream.close(StreamError("policy-violation", "too much unread data"))
            self._unbind()
            connection.abort()

    def _wait_for(self, coroutine: Coroutine[Any, Any, list[Event]]) -> None:
        """Run an input that must wait; later bytes are held until it is done.

        Held bytes cannot move the stream on meanwhile, but its end can: the client goes away, the authentication
        timeout fires, the server shuts down. A step checks ``_gone()`` after each await and then answers nothing:
        the stream asked for an answer that is no longer pending, and raises if given one.
        """
        self._busy = True
        self.connection.pause_reading()
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(self._waited)

    def _waited(self, task: asyncio.Task[list[Event]]) -> None:
        self._busy = False
        if task.cancelled():
            return
        exception = task.exception()
        if exception is not None:
            self.log.error("session step failed", exc_info=exception)
            self._handle(self.stream.close(StreamError("internal-server-error")))
            return
        self._handle(task.result())
        if self._busy:
            return
        while self._inbox and not self._busy and not self.stream.is_closed:
            self._handle(self.stream.receive_data(self._inbox.pop(0)))
        if not self._busy:
            self.connection.resume_reading()

    def _gone(self) -> bool:
        """Whether the stream closed while a step waited (see ``_wait_for``)."""
        return self.stream.is_closed

    def _rate_resume(self) -> None:
        if not self._busy:
            self.connection.resume_reading()

    # -- TLS, authentication, binding -----------------------------------------------------------------------

    async def _start_tls(self) -> list[Event]:
        context = self.env.tls_context
        if context is None:
            return self.stream.close(StreamError("internal-server-error"))
        ssl_object = await self.connection.start_tls(context)
        if ssl_object is None or self._gone():
            return []  # the handshake failed, or the stream timed out meanwhile; the connection is going
        return self.stream.tls_established(tls.ChannelBindings(ssl_object, self.env.certificate_der))

    def _throttle_keys(self, username: str | None) -> tuple[str, ...]:
        host = self.stream.host or ""
        keys = [f"address:{self.connection.peer}"]
        if username:
            keys.append(f"{username}@{host}")
        return tuple(keys)

    async def _lookup(self, event: CredentialsNeeded) -> list[Event]:
        keys = None
        try:
            username = prep_localpart(event.username)
        except JIDError:
            username = None
        throttle_keys = self._throttle_keys(username)
        delay = self.env.throttle.delay(throttle_keys, time.monotonic())
        if delay > 0:
            # A growing delay per account and per address slows down password guessing.
            await asyncio.sleep(delay)
            if self._gone():
                return []
        if username is not None:
            try:
                account = await self.env.hosts[event.host].storage.accounts.get(event.host, username)
            except StorageError:
                self.log.exception("credential lookup failed")
                account = None
            if account is not None:
                keys = {k.hash_name: k for k in account.keys}
            if self._gone():
                return []
        if event.mechanism == "PLAIN":
            # PLAIN derives a key from the password: PBKDF2 is CPU work, keep it off the event loop. Only the
            # check runs in the other thread; the stream stays in this one (it may close meanwhile).
            check = self.stream.check_credentials(keys)
            checked = await asyncio.get_running_loop().run_in_executor(None, check)
            if self._gone():
                return []
            return self.stream.credentials_checked(checked)
        return self.stream.provide_credentials(keys)

    async def _register(self, event: RegistrationRequested) -> list[Event]:
        host = self.env.hosts.get(event.host)
        registrar = self.env.registrar
        if host is None or registrar is None:
            # XEP-0077 section 3.1: where in-band registration is not supported, service-unavailable.
            answer = error_reply(event.iq, StanzaError("service-unavailable"))
        else:
            answer = await registrar(host, event.iq, self.connection.peer)
            if self._gone():
                return []  # (the account stays registered: only the answer has no one to go to)
        return self.stream.registration_answered(answer)

    def _auth_failed(self, event: AuthFailed) -> None:
        username = None
        if event.username:
            try:
                username = prep_localpart(event.username)
            except JIDError:
                username = None
        if event.condition != "aborted":
            self.env.throttle.failed(self._throttle_keys(username), time.monotonic())
        self.log.info("authentication failed: %s", event.condition)

    def _bind(self, event: BindRequested) -> None:
        account = self.stream.authenticated_as
        assert account is not None
        resource = event.resource
        if resource is None:
            # RFC 6120 section 7.6.2.1: the server generates a resource unique among the account's.
            resource = secrets.token_hex(8)
            while self.env.sessions.has_resource(account, resource):
                resource = secrets.token_hex(8)
        try:
            jid = account.with_resource(resource)
        except JIDError:
            self._handle(self.stream.bind_failed(StanzaError("bad-request", "invalid resource")))
            return
        self.jid = jid
        self.bound = True
        replaced = self.env.sessions.bind(self)
        if replaced is not None:
            # RFC 6120 section 7.7.2.2: the new session wins; the old one gets a conflict stream error.
            self.log.info("%s replaces an older session", jid)
            replaced.close(StreamError("conflict", "replaced by a new session"))
        self._handle(self.stream.bind_complete(jid))

    def _bound(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        host = self.env.hosts.get(self.jid.domain)
        if host is not None and host.hooks.has_handlers(hooks.RESOURCE_BOUND):
            self.env.router.spawn(host.hooks.fire(hooks.RESOURCE_BOUND, self))

    def _auth_timed_out(self) -> None:
        self._auth_timer = None
        if not self.stream.is_established:
            self.log.info("no authentication in %ss: closing", self.env.auth_timeout)
            self._handle(self.stream.connection_timeout())

    # -- the end ---------------------------------------------------------------------------------------------

    def _stream_closed(self, event: StreamClosed) -> None:
        if event.error is not None:
            self.log.warning(
                "stream error %s%s",
                event.error.condition,
                f": {event.error.text}" if event.error.text else "",
            )
        self._unbind()
        self.connection.flush()
        if event.by_peer:
            self.connection.close()
        else:
            # Our closing tag is queued; give the client a moment to answer with its own.
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_GRACE, self.connection.close)

    def _unbind(self) -> None:
        if not self.bound:
            return
        self.bound = False
        was_available = self.available
        self.available = False
        if not self.env.sessions.unbind(self):
            return  # replaced: the new session owns the full JID now
        host = self.env.hosts.get(self.jid.domain)
        if host is None:
            return
        if was_available:
            # RFC 6121 section 4.5.1: a session that ends without unavailable presence gets one broadcast.
            unavailable = Element("presence", NS_CLIENT, {"type": "unavailable", "from": str(self.jid)})
            self.env.router.route(unavailable, self)
        if host.hooks.has_handlers(hooks.RESOURCE_UNBOUND):
            self.env.router.spawn(host.hooks.fire(hooks.RESOURCE_UNBOUND, self))

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.env.hibernation.forget(self)
        for timer in (self._auth_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self.stream.is_closed:
            self.stream.receive_eof()
        self._unbind()
        self.env.on_close(self)
