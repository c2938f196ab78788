"""The router: where every stanza goes, by the rules of RFC 6120 section 10 and RFC 6121 section 8.

This is the one home of the delivery rules; ``docs/routing.md`` lists them as a table, and
``tests/unit/routing/test_router.py`` tests each row. Feature modules plug in through IQ handlers (keyed by
``(type, namespace, element, addressee)``) and the hooks of ``xmppd.hooks``; they never decide delivery.

``route()`` is synchronous: delivering to an online resource is a dictionary lookup and a write into that
session's buffer, so stanzas from one sender keep their order. Work that must wait (an IQ handler, a storage
lookup) runs as a task, and its answer is routed when it is ready.

Stanza filters let modules veto a stanza without deciding where it goes (XEP-0191 blocking): a host's
``filters_out`` see every stanza with a ``to`` sent by one of its accounts, before it is routed (what its
sessions send, and what the server sends on an account's behalf, such as presence broadcasts); its
``filters_in`` see every stanza addressed to one of its accounts, before the delivery rules run. A filter
returns None (go on), ``DROP`` (silently ignored) or a ``StanzaError`` (bounced), or an awaitable of one of those
when it must look something up first; routing then goes on when the answer is there. Meanwhile what the same
session sends next waits behind that stanza (and likewise behind a presence the ``PRESENCE_OUT`` hook handles), so
that a session's stanzas keep their order (RFC 6120 section 10.1).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from xmppd import hooks
from xmppd.errors import JIDError, StanzaError
from xmppd.jid import JID
from xmppd.routing.sessions import LocalSession, SessionTable
from xmppd.xml.element import Element
from xmppd.xml.stanza import check_stanza, error_reply, iq_payload, is_error_or_result, message_type, reply

if TYPE_CHECKING:
    from xmppd.host import Host

log = logging.getLogger(__name__)


class To(enum.Enum):
    """Who an IQ request is addressed to, for handler lookup."""

    HOST = "host"
    """The server's domain (or domain/resource)."""
    BARE = "bare"
    """A local account's bare JID (also: no ``to`` at all, RFC 6120 section 10.3.3)."""


@dataclass(frozen=True, slots=True)
class IqRequest:
    """An IQ get or set for a handler: the stanza, its payload, and who sent it to whom."""

    stanza: Element
    payload: Element
    sender: JID
    to: JID
    """The addressee: the host's domain or the account's bare JID (the sender's own when there was no ``to``)."""
    host: Host
    session: LocalSession | None


_last_stamp = 0


def _next_stamp() -> int:
    """Nanoseconds since the epoch, strictly increasing within this process."""
    global _last_stamp
    now = time.time_ns()
    _last_stamp = now if now > _last_stamp else _last_stamp + 1
    return _last_stamp


# Not frozen, unlike the other records: one is built for nearly every routed stanza, and a frozen dataclass
# pays an object.__setattr__ per field (five times the cost). Hooks and filters only read it.
@dataclass(slots=True)
class StanzaContext:
    """A message or presence handed to a hook or filter (read-only by convention)."""

    stanza: Element
    sender: JID
    to: JID
    host: Host
    session: LocalSession | None
    """The local session the stanza came from, if it came from one."""
    stamp: int = field(default_factory=_next_stamp)
    """When the router took the stanza (ns since the epoch, strictly increasing): the order of arrival, kept by
    what stores stanzas for later (offline messages) and the time for their delay stamps (XEP-0203)."""


class _Drop(enum.Enum):
    DROP = "drop"


DROP: Final = _Drop.DROP
"""A filter's verdict: ignore the stanza silently."""

FilterVerdict: TypeAlias = StanzaError | _Drop | None
StanzaFilter: TypeAlias = Callable[[StanzaContext], FilterVerdict | Awaitable[FilterVerdict]]
IqHandler = Callable[[IqRequest], Awaitable[Element | None]]
RemoteRoute = Callable[[Element, JID], None]


class Router:
    """Routes stanzas between local sessions, the hosts' modules, and (later) remote domains and components."""

    def __init__(self, hosts: Mapping[str, Host], sessions: SessionTable) -> None:
        self.hosts = hosts
        self.sessions = sessions
        self.remote: RemoteRoute | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # id(session) -> what it sent while one of its stanzas waited for a filter's answer.
        self._holds: dict[int, _Hold] = {}

    # -- entry point -----------------------------------------------------------------------------------------

    def route(self, stanza: Element, origin: LocalSession | None = None) -> None:
        """Route ``stanza``; ``origin`` is the local session it came from (its ``from`` is already stamped)."""
        if origin is not None:
            if self._holds:
                hold = self._holds.get(id(origin))
                if hold is not None:
                    hold.backlog.append(stanza)  # behind a stanza that waits for a filter's answer
                    return
            try:
                check_stanza(stanza)
            except StanzaError as error:
                self.bounce(stanza, error)
                return
        to = stanza.attrs.get("to")
        if to is None:
            self._without_to(stanza, origin)
            return
        try:
            jid = JID.parse(to)
        except JIDError:
            # RFC 6120 section 8.3.3.8
            self.bounce(stanza, StanzaError("jid-malformed", "invalid 'to' address"))
            return
        if origin is not None:
            sender: JID | None = origin.jid
            home = self.hosts.get(origin.jid.domain)
            presence_out = (
                home is not None and stanza.name == "presence" and home.hooks.has_handlers(hooks.PRESENCE_OUT)
            )
        else:
            sender, home = self._local_sender(stanza)
            presence_out = False
        if home is not None and sender is not None and (home.filters_out or presence_out):
            context = StanzaContext(stanza, sender, jid, home, origin)
            if self._passes(home.filters_out, context, self._outbound, context):
                self._outbound(context)
            return
        self._dispatch(stanza, jid, origin)

    def _local_sender(self, stanza: Element) -> tuple[JID | None, Host | None]:
        """For a stanza the server routes on an account's behalf: the account and its host, if it has filters.

        Error stanzas the server routes are its own answers (bounces), which no filter may hold back.
        """
        sender_text = stanza.attrs.get("from")
        if sender_text is None or stanza.attrs.get("type") == "error":
            return None, None
        try:
            sender = JID.parse(sender_text)
        except JIDError:
            return None, None
        home = self.hosts.get(sender.domain)
        if home is None or not home.filters_out or sender.local is None:
            return None, None
        return sender, home

    def _outbound(self, context: StanzaContext) -> None:
        """A stanza from a local account that its host's filters let through."""
        session = context.session
        if (
            session is not None
            and context.stanza.name == "presence"
            and context.host.hooks.has_handlers(hooks.PRESENCE_OUT)
        ):

            async def run() -> None:
                try:
                    if await context.host.hooks.fire(hooks.PRESENCE_OUT, context) is not hooks.HANDLED:
                        self._dispatch(context.stanza, context.to, session, context)
                finally:
                    self._release(session)

            self.spawn(run())
            self._hold(session)  # what the session sends next waits for the hook, as behind a filter
            return
        self._dispatch(context.stanza, context.to, context.session, context)

    def _dispatch(
        self, stanza: Element, jid: JID, origin: LocalSession | None, context: StanzaContext | None = None
    ) -> None:
        """Deliver by the addressee's kind; ``context`` is the one the sender's filters saw, if any (reused by the
        addressee's filters when both accounts are on the same host: it describes the same stanza)."""
        host = self.hosts.get(jid.domain)
        if host is None:
            self._to_remote(stanza, jid)
        elif jid.local is None:
            self._to_host(host, stanza, jid, origin)
        elif jid.resource is None:
            self._to_bare(host, stanza, jid, origin, context=context)
        else:
            self._to_full(host, stanza, jid, origin, context=context)

    def bounce(self, stanza: Element, error: StanzaError, *, from_: str | None = None) -> None:
        """Answer ``stanza`` with an error, unless it is itself an error or an iq result (RFC 6120 8.3.1)."""
        stanza_type = stanza.attrs.get("type")
        if stanza_type == "error" or (stanza.name == "iq" and stanza_type == "result"):
            return
        if "from" not in stanza.attrs:
            return
        self.route(error_reply(stanza, error, from_=from_))

    # -- no 'to': RFC 6120 section 10.3 ----------------------------------------------------------------------

    def _without_to(self, stanza: Element, origin: LocalSession | None) -> None:
        if origin is None:
            return  # only local clients may omit 'to'
        kind = stanza.name
        bare = origin.jid.bare()
        host = self.hosts.get(bare.domain)
        if host is None:
            return
        if kind == "presence":
            presence_type = stanza.attrs.get("type")
            if presence_type is None or presence_type == "unavailable":
                self._presence_broadcast(host, stanza, origin)
            # Subscription-related presence and probes need a 'to'; without one they mean nothing.
            return
        if kind == "message":
            # RFC 6120 section 10.3.1: as if addressed to the sender's bare JID.
            self._to_bare(host, stanza, bare, origin)
            return
        # RFC 6120 section 10.3.3: an IQ without 'to' is processed on behalf of the sender's account.
        self._iq_for_server(host, stanza, bare, To.BARE, origin)

    def _presence_broadcast(self, host: Host, stanza: Element, origin: LocalSession) -> None:
        initial = False
        if stanza.attrs.get("type") == "unavailable":
            origin.available = False
            origin.presence = None
        else:
            initial = not origin.available
            origin.available = True
            origin.presence = stanza
            origin.priority = _priority(stanza)
        bus = host.hooks
        if bus.has_handlers(hooks.PRESENCE_BROADCAST) or (
            initial and bus.has_handlers(hooks.INITIAL_PRESENCE)
        ):
            context = StanzaContext(stanza, origin.jid, origin.jid.bare(), host, origin)

            async def run() -> None:
                await bus.fire(hooks.PRESENCE_BROADCAST, context)
                if initial:
                    await bus.fire(hooks.INITIAL_PRESENCE, context)

            self.spawn(run())

    # -- the server's own domain -----------------------------------------------------------------------------

    def _to_host(self, host: Host, stanza: Element, jid: JID, origin: LocalSession | None) -> None:
        kind = stanza.name
        if kind == "iq":
            self._iq_for_server(host, stanza, jid.bare(), To.HOST, origin)
        elif kind == "message":
            self._fire_or(host, hooks.MESSAGE_TO_HOST, stanza, jid, origin, self._message_unhandled)
        else:
            self._fire_or(host, hooks.PRESENCE_TO_HOST, stanza, jid, origin, None)

    def _message_unhandled(self, stanza: Element, host: Host) -> None:
        if message_type(stanza) in ("chat", "normal"):
            self.bounce(stanza, StanzaError("service-unavailable"))

    # -- IQs the server answers (RFC 6120 section 8.2.3, RFC 6121 section 8.5.2.1.3) -------------------------

    def _iq_for_server(
        self, host: Host, stanza: Element, to: JID, addressee: To, origin: LocalSession | None
    ) -> None:
        iq_type = stanza.attrs.get("type")
        if iq_type in {"result", "error"}:
            if addressee is To.HOST:
                host.resolve_iq(stanza)
            return
        payload = iq_payload(stanza)
        sender_text = stanza.attrs.get("from")
        if payload is None or sender_text is None:
            self.bounce(stanza, StanzaError("bad-request"))
            return
        handler = host.iq_handlers.get((iq_type or "", payload.ns, payload.name, addressee))
        try:
            sender = JID.parse(sender_text)
        except JIDError:
            return
        request = IqRequest(stanza, payload, sender, to, host, origin)
        self.spawn(self._run_iq(request, handler, addressee))

    async def _run_iq(self, request: IqRequest, handler: IqHandler | None, addressee: To) -> None:
        stanza = request.stanza
        try:
            if (
                addressee is To.BARE
                and request.to.local is not None
                and not await request.host.account_exists(request.to.local)
            ):
                # RFC 6121 section 8.5.1: no such user -> service-unavailable, like an unhandled request.
                raise StanzaError("service-unavailable")
            if handler is None:
                # RFC 6120 section 8.4: a request the server does not understand.
                raise StanzaError("service-unavailable")
            result = await handler(request)
        except StanzaError as error:
            self.bounce(stanza, error)
            return
        except Exception:
            log.exception("IQ handler for {%s}%s failed", request.payload.ns, request.payload.name)
            self.bounce(stanza, StanzaError("internal-server-error"))
            return
        self.route(reply(stanza, result))

    # -- a local account's bare JID (RFC 6121 section 8.5.2) -------------------------------------------------

    def _to_bare(
        self,
        host: Host,
        stanza: Element,
        jid: JID,
        origin: LocalSession | None,
        filtered: bool = False,
        *,
        context: StanzaContext | None = None,
    ) -> None:
        if not filtered and host.filters_in:
            context = _context(stanza, jid, host, origin, context)
            if context is not None and not self._passes(
                host.filters_in, context, self._to_bare, host, stanza, jid, origin, True
            ):
                return
        kind = stanza.name
        if kind == "iq":
            self._iq_for_server(host, stanza, jid, To.BARE, origin)
            return
        if kind == "presence":
            self._presence_to_bare(host, stanza, jid, origin)
            return
        msg_type = message_type(stanza)
        if msg_type == "error":
            return  # 8.5.2.1.1 and 8.5.2.2.1: silently ignored
        if msg_type == "groupchat":
            self.bounce(stanza, StanzaError("service-unavailable"))
            return
        available = [s for s in self.sessions.available(jid) if s.priority >= 0]
        if msg_type == "headline":
            # 8.5.2.1.1: every non-negative resource; none: silently ignored (8.5.2.2.1).
            for session in available:
                session.deliver(stanza)
            return
        if available:
            # 8.5.2.1.1: chat and normal go to the most available resource(s): the highest priority.
            top = max(s.priority for s in available)
            for session in available:
                if session.priority == top:
                    session.deliver(stanza)
            return
        # 8.5.2.2.1: no available resource (or only negative priorities): offline storage or an error.
        # The context (and its stamp, the order of arrival) is taken now, before anything waits.
        self.spawn(self._message_offline(host, stanza, jid, _context(stanza, jid, host, origin, context)))

    async def _message_offline(
        self, host: Host, stanza: Element, jid: JID, context: StanzaContext | None
    ) -> None:
        assert jid.local is not None
        if not await host.account_exists(jid.local):
            # 8.5.1: no such user.
            self.bounce(stanza, StanzaError("service-unavailable"))
            return
        if context is not None and await host.hooks.fire(hooks.MESSAGE_OFFLINE, context) is hooks.HANDLED:
            return
        self.bounce(stanza, StanzaError("service-unavailable"))

    def _presence_to_bare(self, host: Host, stanza: Element, jid: JID, origin: LocalSession | None) -> None:
        presence_type = stanza.attrs.get("type")
        if presence_type is None or presence_type == "unavailable":
            # 8.5.2.1.2: directed presence to a bare JID goes to every available resource; none: ignored.
            for session in self.sessions.available(jid):
                session.deliver(stanza)
            return
        if presence_type == "error":
            return
        self._fire_or(host, hooks.PRESENCE_SUBSCRIPTION, stanza, jid, origin, self._subscription_unhandled)

    def _subscription_unhandled(self, stanza: Element, host: Host) -> None:
        # Without a presence module, subscription requests reach the user's available resources; probes are
        # answered by nobody.
        if stanza.attrs.get("type") == "probe":
            return
        to = stanza.attrs.get("to")
        if to is None:
            return
        try:
            jid = JID.parse(to).bare()
        except JIDError:
            return
        for session in self.sessions.available(jid):
            session.deliver(stanza)

    # -- a full JID (RFC 6121 section 8.5.3) -----------------------------------------------------------------

    def _to_full(
        self,
        host: Host,
        stanza: Element,
        jid: JID,
        origin: LocalSession | None,
        filtered: bool = False,
        *,
        context: StanzaContext | None = None,
    ) -> None:
        if not filtered and host.filters_in:
            context = _context(stanza, jid, host, origin, context)
            if context is not None and not self._passes(
                host.filters_in, context, self._to_full, host, stanza, jid, origin, True
            ):
                return
        kind = stanza.name
        stanza_type = stanza.attrs.get("type")
        if kind == "presence" and stanza_type not in (None, "unavailable", "error"):
            # 8.5.3.1 and 8.5.3.2.2: subscription presence and probes are handled as if sent to the bare JID.
            self._to_bare(host, stanza, jid.bare(), origin, True)
            return
        session = self.sessions.get(jid)
        if session is not None:
            # 8.5.3.1: a matching resource gets the stanza, whatever its priority.
            session.deliver(stanza)
            return
        if kind == "message":
            msg_type = message_type(stanza)
            if msg_type == "error":
                return
            if msg_type == "groupchat":
                self.bounce(stanza, StanzaError("service-unavailable"))
                return
            # 8.5.3.2.1: normal, chat and headline are handled as if sent to the bare JID.
            self._to_bare(host, stanza, jid.bare(), origin, True)
        elif kind == "iq":
            # 8.5.3.2.3: an IQ for a resource that is not there.
            self.bounce(stanza, StanzaError("service-unavailable"))
        # 8.5.3.2.2: available, unavailable and error presence for a missing resource is ignored.

    # -- other domains ---------------------------------------------------------------------------------------

    def _to_remote(self, stanza: Element, jid: JID) -> None:
        if self.remote is not None:
            self.remote(stanza, jid)
            return
        # RFC 6120 section 8.3.3.15: no route to that domain.
        self.bounce(stanza, StanzaError("remote-server-not-found"))

    # -- filters ---------------------------------------------------------------------------------------------

    def _passes(
        self,
        filters: list[StanzaFilter],
        context: StanzaContext,
        resume: Callable[..., None],
        *args: Any,
    ) -> bool:
        """Run ``filters``; True when routing may go on now.

        False when a filter dropped or bounced the stanza, or must wait for an answer: then ``resume(*args)`` is
        called once every filter has let the stanza through.
        """
        for check in filters:
            verdict = check(context)
            if verdict is not None:
                break
        else:
            return True
        if inspect.isawaitable(verdict):
            rest = filters[filters.index(check) + 1 :]
            self.spawn(self._filters_async(verdict, rest, context, resume, args))
            if context.session is not None:
                self._hold(context.session)
        else:
            self._refuse(context, verdict)
        return False

    async def _filters_async(
        self,
        pending: Awaitable[FilterVerdict],
        rest: list[StanzaFilter],
        context: StanzaContext,
        resume: Callable[..., None],
        args: tuple[Any, ...],
    ) -> None:
        try:
            verdict = await pending
            if verdict is not None:
                self._refuse(context, verdict)
                return
            for check in rest:
                answer = check(context)
                verdict = await answer if inspect.isawaitable(answer) else answer
                if verdict is not None:
                    self._refuse(context, verdict)
                    return
            resume(*args)
        finally:
            if context.session is not None:
                self._release(context.session)

    def _hold(self, session: LocalSession) -> None:
        """One more of ``session``'s stanzas waits for a filter: what it sends next waits behind it."""
        hold = self._holds.get(id(session))
        if hold is None:
            hold = self._holds[id(session)] = _Hold(session)
        hold.count += 1

    def _release(self, session: LocalSession) -> None:
        """A stanza of ``session`` is through its filters: once none waits, route what queued behind, in order."""
        hold = self._holds[id(session)]
        hold.count -= 1
        if hold.count:
            return
        del self._holds[id(session)]
        backlog = hold.backlog
        for index, stanza in enumerate(backlog):
            self.route(stanza, session)
            again = self._holds.get(id(session))
            if again is not None:
                again.backlog.extend(backlog[index + 1 :])  # this one waits now: the rest behind it again
                return

    def _refuse(self, context: StanzaContext, verdict: StanzaError | _Drop) -> None:
        if not isinstance(verdict, StanzaError):
            return
        if context.session is not None and context.stanza.attrs.get("from") == str(context.session.jid):
            # The sender's own stanza, refused on its way out: the answer goes straight back to its session.
            # Routed, it would come "from" the refused address and meet the sender's own filters (XEP-0191:
            # a blocked contact's address is filtered both ways).
            if not is_error_or_result(context.stanza):
                context.session.deliver(error_reply(context.stanza, verdict))
            return
        self.bounce(context.stanza, verdict)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _fire_or(
        self,
        host: Host,
        hook: hooks.Hook[Any],
        stanza: Element,
        to: JID,
        origin: LocalSession | None,
        unhandled: Callable[[Element, Host], None] | None,
    ) -> None:
        context = _context(stanza, to, host, origin)
        if context is None:
            return
        if not host.hooks.has_handlers(hook):
            if unhandled is not None:
                unhandled(stanza, host)
            return

        async def run() -> None:
            if await host.hooks.fire(hook, context) is not hooks.HANDLED and unhandled is not None:
                unhandled(stanza, host)

        self.spawn(run())

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as a task the router keeps a reference to; failures are logged."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("routing task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the routing tasks under way (shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class _Hold:
    """The stanzas a session sent while ``count`` of its earlier ones waited for filters."""

    __slots__ = ("backlog", "count", "session")

    def __init__(self, session: LocalSession) -> None:
        self.session = session  # kept alive with its id in use
        self.count = 0
        self.backlog: list[Element] = []


def _context(
    stanza: Element, to: JID, host: Host, origin: LocalSession | None, known: StanzaContext | None = None
) -> StanzaContext | None:
    """The context of ``stanza`` for ``to`` at ``host``: ``known`` when it is that one already (the sender's
    filters saw it), else a new one, or None when the stanza has no valid ``from``."""
    if known is not None and known.to is to and known.host is host:
        return known
    sender_text = stanza.attrs.get("from")
    if sender_text is None:
        return None
    try:
        sender = JID.parse(sender_text)
    except JIDError:
        return None
    return StanzaContext(stanza, sender, to, host, origin)


def _priority(presence: Element) -> int:
    """RFC 6121 section 4.7.2.3: an integer from -128 to +127; absent or invalid means 0."""
    text = presence.child_text("priority")
    if not text:
        return 0
    try:
        value = int(text.strip())
    except ValueError:
        return 0
    return value if -128 <= value <= 127 else 0
