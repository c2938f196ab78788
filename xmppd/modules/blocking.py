"""XEP-0191: Blocking Command.

A user's block list: read, extended and shrunk with IQs the server answers for the account (XEP-0191 sections
3.2 to 3.5), pushed to each of the user's resources that asked for it, and enforced with the router's stanza
filters on what the user is sent and what the user sends (section 3.3), including the presence the server
broadcasts on the user's behalf, so that the user looks offline to blocked JIDs. The presence part of blocking
and unblocking (unavailable presence to the newly blocked, current presence to the unblocked: sections 3.3 and
3.4) belongs to the presence module, which follows ``hooks.BLOCK_LIST_CHANGED``.

The list is kept in the key/value store (store ``"blocklist"``, one key per blocked JID, empty values) and in a
cache that this module alone writes: username -> frozenset of blocked JIDs, read from storage when first needed.
It keeps the list of every user who has a session or a non-empty list, and the empty lists of at most
``OFFLINE_EMPTY_MAX`` other users, the latest read (each message to an offline user is checked against the
user's list; anyone may send stanzas to any username, so those are bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from xmppd import hooks
from xmppd.config import option
from xmppd.errors import JIDError, StanzaError
from xmppd.jid import JID
from xmppd.modules.api import IqRequest, Module, Spec, StanzaContext, To, hook, iq_handler, stanza_filter
from xmppd.routing.router import DROP, FilterVerdict
from xmppd.routing.sessions import LocalSession
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_BLOCKING, NS_BLOCKING_ERRORS, NS_CLIENT

if TYPE_CHECKING:
    from xmppd.host import Host

STORE: Final = "blocklist"
"""The key/value store of block lists: one key per blocked JID (its canonical string), values empty."""


def is_blocked(blocked: frozenset[JID], address: JID) -> bool:
    """Whether ``address`` matches an item of ``blocked``.

    The same as ``any(covers(item, address) for item in blocked)`` (``xmppd.jid.covers``, XEP-0191 section 6),
    with at most four set lookups instead of a scan: this runs for every stanza.
    """
    if not blocked:
        return False
    if address in blocked or address.bare() in blocked:
        return True
    # The parts of a JID are prepared already: building these addresses directly needs no preparation.
    return JID(None, address.domain) in blocked or (
        address.local is not None
        and address.resource is not None
        and JID(None, address.domain, address.resource) in blocked
    )


def inbound_verdict(stanza: Element) -> FilterVerdict:
    """What becomes of a stanza a blocked JID sends the user (XEP-0191 section 3.3)."""
    stanza_type = stanza.attrs.get("type")
    if stanza.name == "presence" or stanza_type == "error":
        # Presence of every kind (notifications, subscriptions, probes): MUST NOT respond, MUST NOT return an
        # error. Errors are never answered (RFC 6120 section 8.3.1).
        return DROP
    if stanza.name == "message" or stanza_type in ("get", "set"):
        # Messages: SHOULD return an error, which SHOULD be service-unavailable. IQ get/set: MUST return an
        # error, which SHOULD be service-unavailable. Either way the user looks offline.
        return StanzaError("service-unavailable")
    return DROP  # IQ stanzas of other types MUST be silently dropped.


#: How many offline users' empty lists the cache keeps (the oldest is forgotten first).
OFFLINE_EMPTY_MAX: Final = 10_000


class Blocking(Module):
    name = "blocking"
    spec = Spec("XEP-0191", version="1.3", note="presence on (un)blocking is the presence module's")
    features = (NS_BLOCKING,)
    account_features = (NS_BLOCKING,)

    @dataclass(frozen=True, slots=True)
    class Config:
        max_items: int = option(1000, minimum=1, maximum=1_000_000)
        """How many JIDs one account may block; a block command that would exceed it gets policy-violation."""

    def __init__(self, host: Host, config: Any) -> None:
        super().__init__(host, config)
        self._cache: dict[str, frozenset[JID]] = {}
        # The users whose empty list the cache keeps while they have no session, oldest first.
        self._offline_empty: dict[str, None] = {}
        # One lock per user serializes changes to a list; a lock lives as long as someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Bumped when an account's list is deleted: a storage read that started before is not cached.
        self._epoch = 0
        # The storage reads under way, one per user however many stanzas wait for it.
        self._reads: dict[str, asyncio.Future[frozenset[JID]]] = {}
        # bare JID -> resource -> the session that requested the block list (XEP-0191 section 3.2).
        self._interested: dict[JID, dict[str, LocalSession]] = {}
        self._push_ids = itertools.count(1)

    # -- the IQs (XEP-0191 sections 3.2 to 3.5) --------------------------------------------------------------

    @iq_handler("get", NS_BLOCKING, "blocklist", to=(To.BARE,))
    async def get_blocklist(self, request: IqRequest) -> Element:
        """Section 3.2: every blocked JID as an <item/>; the requesting resource will get the pushes."""
        username = self._owner(request)
        blocked = await self._load(username)
        session = request.session
        if session is not None and session.jid.resource is not None:
            self._interested.setdefault(session.jid.bare(), {})[session.jid.resource] = session
        result = Element("blocklist", NS_BLOCKING)
        for jid in sorted(blocked, key=str):
            result.add("item", attrs={"jid": str(jid)})
        return result

    @iq_handler("set", NS_BLOCKING, "block", to=(To.BARE,))
    async def block(self, request: IqRequest) -> None:
        """Section 3.3: add the items to the list, answer, and push the <block/> to the interested resources."""
        username = self._owner(request)
        items = _items(request.payload)
        if not items:
            # Section 3.3: a <block/> without any <item/> MUST be answered with bad-request.
            raise StanzaError("bad-request", "<block/> needs at least one <item/>")
        async with self._lock(username):
            current = await self._load(username)
            added = [jid for jid in items if jid not in current]
            if len(current) + len(added) > self.config.max_items:
                raise StanzaError("policy-violation", f"at most {self.config.max_items} JIDs can be blocked")
            await self._store(username, current, added, ())
            if added:
                await self._changed(username, added, ())
        self._push_soon(request.to, "block", items)

    @iq_handler("set", NS_BLOCKING, "unblock", to=(To.BARE,))
    async def unblock(self, request: IqRequest) -> None:
        """Sections 3.4 and 3.5: remove the items (no item: every JID), answer, and push the <unblock/>."""
        username = self._owner(request)
        items = _items(request.payload)
        async with self._lock(username):
            current = await self._load(username)
            removed = [jid for jid in items if jid in current] if items else sorted(current, key=str)
            await self._store(username, current, (), removed)
            if removed:
                await self._changed(username, (), removed)
        self._push_soon(request.to, "unblock", items)

    @staticmethod
    def _owner(request: IqRequest) -> str:
        """The account's name: only its owner may read or change its list. Anyone else gets what a blocked JID
        gets (and RFC 6121 section 8.5.2.1.3 an unhandled request), so it tells nobody whether they are blocked."""
        if request.sender.bare() != request.to or request.to.local is None:
            raise StanzaError("service-unavailable")
        return request.to.local

    # -- the list: cache and storage -------------------------------------------------------------------------

    def _lock(self, username: str) -> asyncio.Lock:
        lock = self._locks.get(username)
        if lock is None:
            lock = self._locks[username] = asyncio.Lock()
        return lock

    async def _load(self, username: str) -> frozenset[JID]:
        """The user's list: from the cache, else from storage.

        Stanzas that arrive while the list is being read wait for that one read: a burst of messages from a user
        who just logged in costs one query, not one each.
        """
        cached = self._cache.get(username)
        if cached is not None:
            return cached
        read = self._reads.get(username)
        if read is None:
            read = self._reads[username] = asyncio.ensure_future(self._read(username))
            read.add_done_callback(lambda done: self._read_done(username, done))
        # Shielded: a waiter that is cancelled does not cancel the read the others wait for.
        return await asyncio.shield(read)

    def _read_done(self, username: str, read: asyncio.Future[frozenset[JID]]) -> None:
        if self._reads.get(username) is read:
            del self._reads[username]
        if not read.cancelled():
            read.exception()  # retrieved: the waiters got it (a read nobody awaits any more logs nothing)

    async def _read(self, username: str) -> frozenset[JID]:
        """Read the user's list from storage, and cache it when it may be kept."""
        epoch = self._epoch
        blocked: set[JID] = set()
        for key in await self.host.storage.keyval.keys(self.host.name, username, STORE):
            with contextlib.suppress(JIDError):  # only this module writes the keys: they are JIDs
                blocked.add(JID.parse(key))
        cached = self._cache.get(username)
        if cached is not None:
            return cached  # a change was stored meanwhile: it is newer
        if epoch == self._epoch:
            self._cache[username] = frozenset(blocked)
            if not blocked and not self._online(username):
                self._keep_offline_empty(username)
        return frozenset(blocked)

    def _online(self, username: str) -> bool:
        return bool(self.host.sessions.resources(JID(username, self.host.name)))

    def _keep_offline_empty(self, username: str) -> None:
        """The cache holds the empty list of ``username``, who has no session: count it among the bounded ones."""
        self._offline_empty[username] = None
        if len(self._offline_empty) > OFFLINE_EMPTY_MAX:
            oldest = next(iter(self._offline_empty))
            del self._offline_empty[oldest]
            if self._cache.get(oldest) == frozenset() and not self._online(oldest):
                del self._cache[oldest]

    async def _store(
        self, username: str, current: frozenset[JID], added: Iterable[JID], removed: Iterable[JID]
    ) -> None:
        """Write a change, then the cache (a write that fails leaves the cache to be read again)."""
        keyval = self.host.storage.keyval
        added, removed = list(added), list(removed)
        try:
            for jid in added:
                await keyval.set(self.host.name, username, STORE, str(jid), b"")
            for jid in removed:
                await keyval.delete(self.host.name, username, STORE, str(jid))
        except BaseException:
            self._cache.pop(username, None)
            raise
        self._cache[username] = (current | frozenset(added)) - frozenset(removed)

    async def _changed(self, username: str, blocked: Iterable[JID], unblocked: Iterable[JID]) -> None:
        """Tell the presence module (sections 3.3 and 3.4); called with the user's lock held, so in order."""
        strings = tuple(map(str, blocked)), tuple(map(str, unblocked))
        await self.host.hooks.fire(
            hooks.BLOCK_LIST_CHANGED, hooks.BlockListChanged(self.host.name, username, *strings)
        )

    def _push_soon(self, account: JID, action: str, items: list[JID]) -> None:
        """Push ``<block/>`` or ``<unblock/>`` to each resource that requested the list (sections 3.3 to 3.5),
        once the requester has its result (the router sends it when the handler returns)."""
        payload = Element(
            action, NS_BLOCKING, children=[Element("item", NS_BLOCKING, {"jid": str(jid)}) for jid in items]
        )

        def push() -> None:
            for session in list(self._interested.get(account, {}).values()):
                if self.host.sessions.get(session.jid) is session:  # not a session replaced since
                    push_id = f"block-push-{next(self._push_ids)}"
                    attrs = {"type": "set", "id": push_id, "to": str(session.jid)}
                    self.host.send(Element("iq", NS_CLIENT, attrs, [payload.copy()]))

        asyncio.get_running_loop().call_soon(push)

    # -- enforcement (XEP-0191 section 3.3) ------------------------------------------------------------------

    @stanza_filter("in")
    def filter_in(self, context: StanzaContext) -> FilterVerdict | Awaitable[FilterVerdict]:
        """Stanzas for the user: nothing from a blocked JID is delivered."""
        return self._filter(context, context.to, context.sender, inbound=True)

    @stanza_filter("out")
    def filter_out(self, context: StanzaContext) -> FilterVerdict | Awaitable[FilterVerdict]:
        """Stanzas from the user (and from the server on the user's behalf): nothing reaches a blocked JID."""
        return self._filter(context, context.sender, context.to, inbound=False)

    def _filter(
        self, context: StanzaContext, user: JID, other: JID, *, inbound: bool
    ) -> FilterVerdict | Awaitable[FilterVerdict]:
        if user.local is None:
            return None
        blocked = self._cache.get(user.local)
        if blocked is not None and not blocked:
            return None  # the list is known to be empty (the common case): nothing to look at
        # Section 5: one of the user's resources is never blocked from another. Nor is the user's own server
        # (blocking its domain blocks its users): without it no service discovery or ping would work.
        if other.bare() == user.bare() or other == self.host.jid:
            return None
        if blocked is None:
            return self._decide_later(user.local, context, other, inbound)
        return self._verdict(blocked, context, other, inbound)

    async def _decide_later(
        self, username: str, context: StanzaContext, other: JID, inbound: bool
    ) -> FilterVerdict:
        """The verdict once the list is read from storage (the cache had none)."""
        try:
            blocked = await self._load(username)
        except Exception:
            self.log.exception("cannot read the block list of %s", username)
            # Fail closed: a blocked JID must not get through because storage is down.
            return DROP if context.stanza.name == "presence" else StanzaError("internal-server-error")
        return self._verdict(blocked, context, other, inbound)

    def _verdict(
        self, blocked: frozenset[JID], context: StanzaContext, other: JID, inbound: bool
    ) -> FilterVerdict:
        if not is_blocked(blocked, other):
            return None
        return inbound_verdict(context.stanza) if inbound else self._refuse_outbound(context)

    def _refuse_outbound(self, context: StanzaContext) -> FilterVerdict:
        """Section 3.3: what the user sends to a blocked JID is not routed but answered with not-acceptable."""
        stanza = context.stanza
        stanza_type = stanza.attrs.get("type")
        if stanza.name == "presence":
            # Unavailable presence tells a blocked JID only what it must see, that the user is offline, and the
            # server MUST send it when the block starts (section 3.3): it passes. Other presence, including what
            # the server broadcasts for the user, is dropped: the user looks offline.
            return None if stanza_type == "unavailable" else DROP
        if (
            context.session is None
            or stanza_type == "error"
            or (stanza.name == "iq" and stanza_type == "result")
        ):
            return DROP  # sent by the server, or an error or result, which is never answered
        # The router hands this error straight back to the sending session.
        return StanzaError("not-acceptable", type="cancel", app=(NS_BLOCKING_ERRORS, "blocked"))

    # -- sessions and accounts -------------------------------------------------------------------------------

    @hook(hooks.RESOURCE_UNBOUND)
    async def resource_unbound(self, session: LocalSession) -> None:
        """Forget the interest of a resource that went away, and the empty list of a user who did."""
        bare = session.jid.bare()
        resources = self._interested.get(bare)
        if resources is not None and session.jid.resource is not None:
            entry = resources.get(session.jid.resource)
            if entry is not None and self.host.sessions.get(entry.jid) is not entry:
                del resources[session.jid.resource]
            if not resources:
                del self._interested[bare]
        username = session.jid.local
        if (
            username is not None
            and self._cache.get(username) == frozenset()
            and not self.host.sessions.resources(bare)
        ):
            self._keep_offline_empty(username)

    @hook(hooks.ACCOUNT_DELETED)
    async def account_deleted(self, event: hooks.AccountDeleted) -> None:
        """Delete the account's block list."""
        if event.host != self.host.name:
            return
        keyval = self.host.storage.keyval
        async with self._lock(event.username):
            for key in await keyval.keys(event.host, event.username, STORE):
                await keyval.delete(event.host, event.username, STORE, key)
            self._epoch += 1
            self._cache.pop(event.username, None)
            self._offline_empty.pop(event.username, None)
        self._interested.pop(JID(event.username, self.host.name), None)


def _items(payload: Element) -> list[JID]:
    """The JIDs of a <block/> or <unblock/>, prepared and without duplicates, in order."""
    jids: dict[JID, None] = {}
    for item in payload.find_all("item", NS_BLOCKING):
        text = item.attrs.get("jid")
        if text is None:
            raise StanzaError("bad-request", "an <item/> without a 'jid'")
        try:
            jids[JID.parse(text)] = None
        except JIDError:
            # RFC 6120 section 8.3.3.8 (XEP-0191 section 3.3: "other standard XMPP stanza errors also apply").
            raise StanzaError("jid-malformed", "an <item/> 'jid' is not a valid JID") from None
    return list(jids)
