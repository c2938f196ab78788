"""The hook bus: named server events, handlers sorted by priority.

Follows Prosody's ``util/events`` and ejabberd's ``run``/``run_fold``: every handler of a hook runs in priority
order (highest first); ``fire`` is for side effects and stops early when a handler returns ``HANDLED``; ``fold``
threads an accumulator through every handler. Handler lists are sorted once, when they change.

This module imports nothing of ours but ``errors``, so every layer may use it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P")
A = TypeVar("A")


class Handled(enum.Enum):
    """Returned by a handler to stop the chain."""

    HANDLED = "handled"


HANDLED: Final[Handled] = Handled.HANDLED


class Priority:
    """Named priorities: run order within one hook (higher first)."""

    FIRST: Final = 1000
    EARLY: Final = 100
    NORMAL: Final = 0
    LATE: Final = -100
    LAST: Final = -1000


@dataclass(frozen=True, slots=True)
class Hook(Generic[P]):
    """A hook's name; the type parameter is the payload its handlers receive."""

    name: str


Handler = Callable[[Any], Awaitable[Handled | None]]
Folder = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    """The payload of ACCOUNT_DELETED: ``username`` on ``host`` is going away."""

    host: str
    username: str


@dataclass(frozen=True, slots=True)
class BlockListChanged:
    """The payload of BLOCK_LIST_CHANGED: the bare JIDs (as strings) ``username`` blocked and unblocked."""

    host: str
    username: str
    blocked: tuple[str, ...]
    unblocked: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionQuery:
    """The payload of SUBSCRIPTION_QUERY: is ``contact`` (a bare JID as a string) subscribed to the user?"""

    host: str
    username: str
    contact: str


class HookBus:
    """Hooks of one virtual host (or of the server): add, remove, fire, fold."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[int, int, Callable[..., Awaitable[Any]]]]] = {}
        self._sorted: dict[str, tuple[Callable[..., Awaitable[Any]], ...]] = {}
        self._counter = 0

    def add(
        self, hook: Hook[Any], handler: Callable[..., Awaitable[Any]], priority: int = Priority.NORMAL
    ) -> None:
        """Register ``handler`` on ``hook`` (equal priorities keep registration order)."""
        self._counter += 1
        self._handlers.setdefault(hook.name, []).append((priority, -self._counter, handler))
        self._sorted.pop(hook.name, None)

    def remove(self, hook: Hook[Any], handler: Callable[..., Awaitable[Any]]) -> None:
        """Unregister ``handler`` from ``hook`` (no error if absent)."""
        entries = self._handlers.get(hook.name)
        if not entries:
            return
        self._handlers[hook.name] = [entry for entry in entries if entry[2] != handler]
        self._sorted.pop(hook.name, None)

    def handlers(self, hook: Hook[Any]) -> tuple[Callable[..., Awaitable[Any]], ...]:
        cached = self._sorted.get(hook.name)
        if cached is None:
            entries = sorted(self._handlers.get(hook.name, ()), key=lambda e: (e[0], e[1]), reverse=True)
            cached = self._sorted[hook.name] = tuple(entry[2] for entry in entries)
        return cached

    def has_handlers(self, hook: Hook[Any]) -> bool:
        return bool(self.handlers(hook))

    async def fire(self, hook: Hook[P], payload: P) -> Handled | None:
        """Run the handlers in order until one returns ``HANDLED``; returns that, or None."""
        for handler in self.handlers(hook):
            try:
                result = await handler(payload)
            except Exception:
                # A broken handler must not take the others (or the server) down.
                log.exception("handler %r of hook %s failed", handler, hook.name)
                continue
            if result is HANDLED:
                return Handled.HANDLED
        return None

    async def fold(self, hook: Hook[P], payload: P, initial: A) -> A:
        """Thread ``initial`` through every handler: ``acc = await handler(payload, acc)``."""
        acc = initial
        for handler in self.handlers(hook):
            acc = await handler(payload, acc)
        return acc


# -- the hooks of a host and their payloads ------------------------------------------------------------------
# Payload types live in xmppd.routing.router (they carry stanzas and sessions); hooks are declared here so that
# every layer can name them without importing routing.

#: A message to the host's domain (payload: StanzaContext). Unhandled: service-unavailable (RFC 6120 8.?).
MESSAGE_TO_HOST: Final[Hook[Any]] = Hook("message/host")
#: A presence to the host's domain (payload: StanzaContext). Unhandled: ignored.
PRESENCE_TO_HOST: Final[Hook[Any]] = Hook("presence/host")
#: A chat or normal message for a local account with no available resource (payload: StanzaContext).
#: Unhandled: service-unavailable (RFC 6121 section 8.5.2.2.1).
MESSAGE_OFFLINE: Final[Hook[Any]] = Hook("message/offline")
#: A subscription-related presence or probe for a local account (payload: StanzaContext), RFC 6121 section 3.
#: Unhandled: subscription presences are delivered to available resources, probes ignored.
PRESENCE_SUBSCRIPTION: Final[Hook[Any]] = Hook("presence/subscription")
#: Available or unavailable presence with no ``to`` from a local session (payload: StanzaContext): the broadcast
#: of RFC 6121 section 4.2 and 4.5, after the session table is updated.
PRESENCE_BROADCAST: Final[Hook[Any]] = Hook("presence/broadcast")
#: A presence with a ``to`` sent by a local session (payload: StanzaContext), before it is routed: subscription
#: requests and answers update the sender's roster (RFC 6121 section 3) and directed presence is remembered
#: (section 4.6). A handler that returns HANDLED has routed the stanza (or a copy) itself; otherwise the router
#: routes it as it is.
PRESENCE_OUT: Final[Hook[Any]] = Hook("presence/out")
#: The first available presence of a session (payload: StanzaContext), after PRESENCE_BROADCAST's handlers: the
#: moment to deliver what waited for the user (offline messages, subscription requests; RFC 6121 section 4.2.2).
INITIAL_PRESENCE: Final[Hook[Any]] = Hook("presence/initial")
#: A fold over a presence the server broadcasts for a session (payload: the LocalSession, accumulator: the
#: presence Element, a copy the handler may change and must return): modules add their extensions (XEP-0153).
OUTGOING_PRESENCE: Final[Hook[Any]] = Hook("presence/outgoing")
#: A user's block list changed (payload: BlockListChanged), after the change was stored: presence follows it
#: (XEP-0191 sections 3.3 and 3.4: unavailable presence to the newly blocked, current presence to the unblocked).
BLOCK_LIST_CHANGED: Final[Hook[Any]] = Hook("block-list-changed")
#: A fold asking whether ``contact`` is subscribed to ``username``'s presence (payload: SubscriptionQuery,
#: accumulator: bool, False to start): the roster answers True for a subscription of 'from' or 'both'. Features
#: that show presence-like data only to subscribers ask it (XEP-0012 last activity, XEP-0054 is public).
SUBSCRIPTION_QUERY: Final[Hook[Any]] = Hook("subscription-query")
#: A resource was bound (payload: the LocalSession).
RESOURCE_BOUND: Final[Hook[Any]] = Hook("resource-bound")
#: A bound resource went away (payload: the LocalSession), after it was removed from the session table.
RESOURCE_UNBOUND: Final[Hook[Any]] = Hook("resource-unbound")
#: An account is being deleted (payload: AccountDeleted); every module removes what it keeps of it.
ACCOUNT_DELETED: Final[Hook[Any]] = Hook("account-deleted")
