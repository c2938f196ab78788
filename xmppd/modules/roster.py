"""RFC 6121 section 2: Managing the Roster, with roster versioning (section 2.6, formerly XEP-0237).

A user's resources get the roster (section 2.2), add and update items (2.3, 2.4) and remove them (2.5) with IQs
to their own bare JID or with no ``to``; the server answers on the account's behalf. Only the account's own
resources may: anyone else is refused with forbidden (section 2.1.5's security warning, 2.3.3).

A resource that gets the roster becomes *interested* (section 2.2), and every change to the roster, whoever
makes it, is pushed to every interested resource (section 2.1.6) with the roster's new version; the answers
clients send to pushes are addressed to the user's bare JID, where the router drops them (docs/routing.md R28).
Changes to one user's roster are made one at a time (a lock per user, dropped when idle), so that pushes go
out in version order.

The presence module changes subscription states through the public methods of ``Roster`` (``get_item``,
``items``, ``save_item``, ``drop_item``, ``pending``, ``add_pending``, ``remove_pending``): they store the change
and push it, and this module never sends subscription presence of its own except when the user removes an item
(section 2.5.2) or the account is deleted (then its contacts see it unsubscribe).

While a user has a session, the storage keeps the user's roster in memory (``xmppd.storage.roster_cache``): every
presence the user broadcasts and every probe of the user reads it. This module says when to keep and when to drop
it; the storage keeps it coherent with every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from xmppd import hooks
from xmppd.config import option
from xmppd.errors import StanzaError
from xmppd.jid import JID
from xmppd.modules.api import IqRequest, Module, Spec, To, hook, iq_handler
from xmppd.modules.roster_items import (
    item_element,
    parse_roster_set,
    parse_ver,
    query_element,
    removed_element,
)
from xmppd.routing.sessions import LocalSession
from xmppd.storage.roster import PendingRequest, RosterItem, Subscription, normalize_item
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_ROSTER, NS_ROSTERVER

#: RFC 6121 section 2.6.1: the stream feature that tells clients the server versions rosters.


class Roster(Module):
    name = "roster"
    spec = Spec(
        "RFC 6121",
        version="March 2011",
        status="partial",
        note="section 2 (the roster and its versioning, formerly XEP-0237); subscriptions: the presence module",
    )
    stream_features = ((NS_ROSTERVER, "ver"),)

    @dataclass(frozen=True, slots=True)
    class Config:
        max_items: int = option(1000, minimum=0)
        """Most items a roster may hold (0: no limit); adding one more is refused with not-allowed."""
        max_name_length: int = option(1023, minimum=1)
        """Longest item name, in characters; a longer one is refused with not-acceptable (RFC 6121 2.3.3)."""
        max_group_length: int = option(1023, minimum=1)
        """Longest group name, in characters; a longer one is refused with not-acceptable (RFC 6121 2.3.3)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._store = self.host.storage.roster
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._push_ids = itertools.count(1)

    # -- the public API (the presence module's) --------------------------------------------------------------
    # ``username`` is a prepared localpart of this host; a contact is a bare JID as a string (``str(JID)``).

    async def get_item(self, username: str, contact: str) -> RosterItem | None:
        """The user's item for ``contact``, or None."""
        return await self._store.get_item(self.host.name, username, contact)

    async def items(self, username: str) -> tuple[RosterItem, ...]:
        """Every item of the user's roster, sorted by JID."""
        return (await self._store.get_roster(self.host.name, username)).items

    async def save_item(self, username: str, item: RosterItem) -> None:
        """Create or replace ``item`` in the user's roster, then push it to the user's interested resources."""
        item = normalize_item(item)
        async with self._locked(username):
            version = await self._store.put_item(self.host.name, username, item)
            self._push(username, version, item_element(item))

    async def set_subscription(
        self, username: str, contact: str, subscription: Subscription, ask: bool, approved: bool
    ) -> None:
        """Set the subscription state of ``contact``'s item, creating the item if needed, then push it.

        The item is read under the roster lock, so a name or groups the user set meanwhile are kept.
        """
        async with self._locked(username):
            current = await self._store.get_item(self.host.name, username, contact) or RosterItem(contact)
            changed = replace(current, subscription=subscription, ask=ask, approved=approved)
            if changed == current:
                return
            version = await self._store.put_item(self.host.name, username, changed)
            self._push(username, version, item_element(changed))

    async def drop_item(self, username: str, contact: str) -> None:
        """Remove the item for ``contact`` (if any), then push its removal; no presence is sent."""
        async with self._locked(username):
            version = await self._store.remove_item(self.host.name, username, contact)
            if version is not None:
                self._push(username, version, removed_element(contact))

    async def pending(self, username: str) -> list[PendingRequest]:
        """The subscription requests the user has not answered yet ("Pending In"), oldest first."""
        return await self._store.get_pending(self.host.name, username)

    async def add_pending(self, username: str, contact: str, stanza: bytes) -> bool:
        """Keep ``contact``'s request (the serialized presence); False when one is pending already."""
        return await self._store.add_pending(self.host.name, username, contact, stanza)

    async def remove_pending(self, username: str, contact: str) -> bool:
        """Forget ``contact``'s pending request; False when there was none."""
        return await self._store.remove_pending(self.host.name, username, contact)

    # -- roster get (sections 2.1.3, 2.2 and 2.6) ------------------------------------------------------------

    @iq_handler("get", NS_ROSTER, "query", to=(To.BARE,))
    async def roster_get(self, request: IqRequest) -> Element | None:
        username = _owner(request)
        if request.payload.elements():
            # Section 2.1.3: the <query/> of a roster get MUST NOT contain any <item/>.
            raise StanzaError("bad-request", "a roster get carries no items")
        known = parse_ver(request.payload.attrs.get("ver"))
        session = request.session
        async with self._locked(username):
            roster = await self._store.get_roster(self.host.name, username)
            if known == roster.version:
                # Section 2.6.3: the client has this very version; nothing to send but pushes from now on.
                _interested(session)
                return None
            if (
                known is not None
                and session is not None
                and await self._store.changes_since(self.host.name, username, known) is not None
            ):
                # Section 2.6.3: a version the server knows gets an empty result, then each change since it as
                # a roster push, in order. They go out after the result (the router routes it as soon as this
                # returns); the session becomes interested with the last of them.
                self.host.router.spawn(self._catch_up(session, username, known))
                return None
            # Sections 2.1.4 and 2.6.3: the whole roster, with its version (also for a version we do not know).
            _interested(session)
            return query_element(roster.version, (item_element(item) for item in roster.items))

    async def _catch_up(self, session: LocalSession, username: str, known: int) -> None:
        """Push what changed after version ``known`` to ``session``, then make it interested (section 2.6.3).

        The changes are read again under the lock: any change made since the empty result (which was not pushed
        to the session, not yet interested) is among them, and every later one reaches it as a push.
        """
        async with self._locked(username):
            if self.host.sessions.get(session.jid) is not session:
                return  # gone (or replaced) meanwhile
            changes = await self._store.changes_since(self.host.name, username, known)
            if changes is None:
                # Cannot happen while versions only grow; the client keeps its roster until the next change.
                self.log.warning("roster version %d of %s vanished during a roster get", known, username)
                changes = []
            bare = session.jid.bare()
            for change in changes:
                item = removed_element(change.jid) if change.item is None else item_element(change.item)
                self._push_to(session, bare, change.version, item)
            session.interested = True

    # -- roster set: add, update, remove (sections 2.1.5, 2.3, 2.4 and 2.5) ----------------------------------

    @iq_handler("set", NS_ROSTER, "query", to=(To.BARE,))
    async def roster_set(self, request: IqRequest) -> None:
        username = _owner(request)
        config = self.config
        wanted = parse_roster_set(
            request.payload, request.to, config.max_name_length, config.max_group_length
        )
        if wanted.remove:
            await self._remove(username, wanted.jid)
            return
        async with self._locked(username):
            existing = await self._store.get_item(self.host.name, username, wanted.jid)
            if existing is None and config.max_items:
                roster = await self._store.get_roster(self.host.name, username)
                if len(roster.items) >= config.max_items:
                    # A server may limit roster sizes; the limit is a policy, not a passing shortage.
                    raise StanzaError("not-allowed", f"the roster is full ({config.max_items} items)")
            # Sections 2.3.2 and 2.4.2: name and groups are the client's; the subscription state stays.
            base = existing if existing is not None else RosterItem(wanted.jid)
            item = replace(base, name=wanted.name, groups=wanted.groups)
            version = await self._store.put_item(self.host.name, username, item)
            # Sections 2.3.2 and 2.4.2: a push to every interested resource, the requesting one included.
            self._push(username, version, item_element(item))

    async def _remove(self, username: str, contact: str) -> None:
        async with self._locked(username):
            item = await self._store.get_item(self.host.name, username, contact)
            version = await self._store.remove_item(self.host.name, username, contact)  # None: no such item
            if item is None or version is None:
                # Section 2.5.3: removing an item that is not in the roster.
                raise StanzaError("item-not-found", "no such item in the roster")
            # Removing the contact also refuses its unanswered request, if any ("Pending In").
            asked = await self._store.remove_pending(self.host.name, username, contact)
            # Section 2.5.2: a push with subscription "remove" to every interested resource.
            self._push(username, version, removed_element(contact))
        self._cancel_subscriptions(username, item, asked)

    def _cancel_subscriptions(self, username: str, item: RosterItem, asked: bool) -> None:
        """Section 2.5.2: the subscription presence the server sends for the user when ``item`` goes.

        ``unsubscribe`` ends the user's subscription to the contact, or withdraws the user's request;
        ``unsubscribed`` ends the contact's subscription to the user, or refuses the contact's request (``asked``).
        They come from the user's bare JID and are routed as if the user had sent them.
        """
        user = JID.make(username, self.host.name)
        if item.subscription in ("to", "both") or item.ask:
            self._presence(user, item.jid, "unsubscribe")
        if item.subscription in ("from", "both"):
            # Section 3.2.2: while the contact is still subscribed, it gets unavailable presence from each of the
            # user's available resources.
            for session in self.host.sessions.available(user):
                self._presence(session.jid, item.jid, "unavailable")
        if item.subscription in ("from", "both") or asked:
            self._presence(user, item.jid, "unsubscribed")

    def _presence(self, sender: JID, contact: str, presence_type: str) -> None:
        attrs = {"type": presence_type, "from": str(sender), "to": contact}
        self.host.router.route(Element("presence", NS_CLIENT, attrs))

    # -- pushes (section 2.1.6) ------------------------------------------------------------------------------

    def _push(self, username: str, version: int, item: Element) -> None:
        """Push ``item`` (at roster ``version``) to every interested resource of the user."""
        bare = JID.make(username, self.host.name)
        for session in self.host.sessions.resources(bare):
            if session.interested:
                self._push_to(session, bare, version, item.copy())

    def _push_to(self, session: LocalSession, bare: JID, version: int, item: Element) -> None:
        # Section 2.1.6: from the user's bare JID (clients ignore pushes from anyone else), to the full JID.
        push_id = f"push{next(self._push_ids)}"
        attrs = {"type": "set", "id": push_id, "to": str(session.jid), "from": str(bare)}
        iq = Element("iq", NS_CLIENT, attrs, [query_element(version, (item,))])
        self.host.router.route(iq)

    # -- hooks -----------------------------------------------------------------------------------------------

    @hook(hooks.SUBSCRIPTION_QUERY)
    async def subscription_query(self, query: hooks.SubscriptionQuery, subscribed: bool) -> bool:
        """True when the contact is subscribed to the user's presence: a subscription of "from" or "both"."""
        if subscribed or query.host != self.host.name:
            return subscribed
        item = await self._store.get_item(query.host, query.username, query.contact)
        return item is not None and item.subscription in ("from", "both")

    @hook(hooks.RESOURCE_BOUND)
    async def resource_bound(self, session: LocalSession) -> None:
        """Keep the roster of a user with a session in memory: each presence the user sends or is probed for
        reads it (``xmppd.storage.roster_cache``)."""
        username = session.jid.local
        if (
            username is not None
            and session.jid.domain == self.host.name
            and self.host.sessions.get(session.jid) is session  # not gone before this hook ran
        ):
            self.host.storage.roster_cache.keep(self.host.name, username)

    @hook(hooks.RESOURCE_UNBOUND)
    async def resource_unbound(self, session: LocalSession) -> None:
        """The user's last session ended: forget the roster kept for it."""
        username = session.jid.local
        if (
            username is not None
            and session.jid.domain == self.host.name
            and not self.host.sessions.resources(session.jid.bare())
        ):
            self.host.storage.roster_cache.drop(self.host.name, username)

    @hook(hooks.ACCOUNT_DELETED)
    async def account_deleted(self, event: hooks.AccountDeleted) -> None:
        """The account's contacts see it unsubscribe: section 2.5.2 for every item, before the data goes.

        The roster itself is deleted with the rest of the account's data (``Storage.delete_user``).
        """
        if event.host != self.host.name:
            return
        asked = {request.jid for request in await self.pending(event.username)}
        for item in await self.items(event.username):
            self._cancel_subscriptions(event.username, item, item.jid in asked)
            asked.discard(item.jid)
        user = JID.make(event.username, self.host.name)
        for contact in asked:
            self._presence(user, contact, "unsubscribed")  # refuse requests from contacts not in the roster

    # -- one change at a time per user -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, username: str) -> AsyncIterator[None]:
        """Hold the user's roster lock; the lock is forgotten once nobody holds or waits for it."""
        lock, users = self._locks.get(username, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[username] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            users = self._locks[username][1] - 1
            if users:
                self._locks[username] = (lock, users)
            else:
                del self._locks[username]


def _owner(request: IqRequest) -> str:
    """The username whose roster ``request`` is about, when its sender is that account; else forbidden."""
    username = request.to.local
    if username is None or request.sender.bare() != request.to:
        # Section 2.1.5 (security warning) and 2.3.3: only the account's own resources may manage its roster.
        raise StanzaError("forbidden", "only the account's own resources may manage its roster")
    return username


def _interested(session: LocalSession | None) -> None:
    # Section 2.2: a resource that requests the roster is an "interested resource" and gets roster pushes.
    if session is not None:
        session.interested = True
