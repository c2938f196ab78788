"""RFC 6121 sections 3 and 4: presence subscriptions, probes, broadcast and directed presence.

- Subscriptions (section 3): what a user's resource sends (``hooks.PRESENCE_OUT``) and what is sent to a local
  user (``hooks.PRESENCE_SUBSCRIPTION``, from a local or a remote sender alike: federation only has to route)
  moves the user's subscription state as ``states`` (Appendix A) says. The state is read and saved through the
  roster module's API, which pushes every change; requests the user has not answered are kept there too.
- Probes (section 4.3): sent from the user's bare JID at login, answered for the local user being probed.
- Broadcast (sections 4.2, 4.4, 4.5): a resource's presence goes to the contacts subscribed to the user and to
  the user's available resources; at login the resource gets the presence of the others and the requests
  waiting for an answer; unavailable presence also goes to those it sent directed presence to (``directed``).
- Blocking (XEP-0191 sections 3.3, 3.4): presence follows ``hooks.BLOCK_LIST_CHANGED``.

Whatever goes to an address is routed with ``router.route`` and no origin, so the outbound filters (blocking)
see it, and every presence the server sends for a session is first folded through ``hooks.OUTGOING_PRESENCE``
(XEP-0153 adds its avatar hash there). A stanza handed in by a hook is never changed: copies are routed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from xmppd import hooks
from xmppd.config import option
from xmppd.jid import JID
from xmppd.modules.api import Module, Spec, StanzaContext, hook
from xmppd.modules.presence.broadcast import Broadcaster
from xmppd.modules.presence.stanzas import presence, readdressed
from xmppd.modules.presence.states import (
    State,
    SubscriptionType,
    Transition,
    inbound,
    outbound,
    subscription_type,
)
from xmppd.modules.roster import Roster
from xmppd.routing.sessions import LocalSession
from xmppd.storage.roster import RosterItem
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_PRE_APPROVAL
from xmppd.xml.serializer import to_bytes


class Presence(Module):
    name = "presence"
    spec = Spec(
        "RFC 6121",
        version="March 2011",
        status="partial",
        note="sections 3 and 4 (subscriptions and presence); section 2: the roster module",
    )
    depends = ("roster",)
    # Section 3.4: pre-approval is supported, and advertised as a stream feature.
    stream_features = ((NS_PRE_APPROVAL, "sub"),)

    @dataclass(frozen=True, slots=True)
    class Config:
        remembered_logouts: int = option(10000, minimum=0)
        """How many users' last unavailable presence is kept in memory, to answer a subscribed contact's probe
        while the user is offline with it (RFC 6121 section 4.3.2); the oldest is forgotten first, and a user
        forgotten is answered for with bare unavailable presence."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.broadcaster = Broadcaster(self.host, self.config.remembered_logouts)
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @property
    def _roster(self) -> Roster:
        roster = self.host.modules["roster"]
        assert isinstance(roster, Roster)
        return roster

    def _local_user(self, jid: JID) -> str | None:
        return jid.local if jid.domain == self.host.name else None

    # -- subscriptions sent by the user (sections 3.1.2, 3.1.5, 3.2.2, 3.3.2, 3.4; Appendix A.2) ---------------

    @hook(hooks.PRESENCE_OUT)
    async def presence_out(self, context: StanzaContext) -> hooks.Handled | None:
        session, user = context.session, context.sender.bare()
        if session is None or self._local_user(user) is None:
            return None
        presence_type = context.stanza.attrs.get("type")
        kind = subscription_type(presence_type)
        if kind is not None:
            await self._subscription_out(user, context.to.bare(), context.stanza, kind)
            return hooks.HANDLED
        if presence_type == "probe":
            # Section 4.3: a probe is sent from the bare JID of the user (clients SHOULD NOT send any; XEP-0318
            # describes why some do). Its answers reach all of the user's available resources.
            self.host.router.route(readdressed(context.stanza, user, context.to))
            return hooks.HANDLED
        if presence_type is None or presence_type == "unavailable":
            await self.broadcaster.directed_out(session, context.to, presence_type is None)
        return None  # the router routes the original, unchanged (section 4.6.3)

    async def _subscription_out(self, user: JID, to: JID, stanza: Element, kind: SubscriptionType) -> None:
        if to == user:
            return  # a user is subscribed to its own presence already (section 4.2.2): nothing to ask for
        username, contact = str(user.local), str(to)
        # Sections 3.1.2, 3.2.2, 3.3.2: stamped with the user's bare JID; a full 'to' SHOULD be taken as bare.
        copy = readdressed(stanza, user, contact)
        async with self._lock(username, contact):
            item, pending, state = await self._state(username, contact)
            transition = outbound(state, kind, item is not None and item.approved)
            if transition.presence == "unavailable":
                # Section 3.2.2: while the contact is still subscribed, before "unsubscribed" reaches it.
                await self.broadcaster.send_unavailable(user, contact)
            if transition.forward:
                self.host.router.route(copy)
            # Then the roster push (sections 3.1.2, 3.1.5, 3.2.2, 3.3.2, 3.4).
            await self._apply(username, contact, item, pending, transition, None)
            if transition.presence == "available":
                # Section 3.1.5: the user's current presence, from each available resource.
                await self.broadcaster.send_current(user, contact)

    # -- subscriptions sent to the user (sections 3.1.3, 3.1.6, 3.2.3, 3.3.3, 3.4; Appendix A.3) ---------------

    @hook(hooks.PRESENCE_SUBSCRIPTION)
    async def presence_in(self, context: StanzaContext) -> hooks.Handled | None:
        user, sender = context.to.bare(), context.sender.bare()
        username = self._local_user(user)
        if username is None:
            return None
        presence_type = context.stanza.attrs.get("type")
        probe_id = context.stanza.attrs.get("id")
        # A user with a session exists: asked first, it spares the lookup for every probe of an online user.
        if not self.host.sessions.resources(user) and not await self.host.account_exists(username):
            if presence_type == "probe":
                # Sections 4.3.2 (rule 1) and 8.5.1: a probe of no such account is answered "unsubscribed".
                self.host.router.route(presence("unsubscribed", user, sender, probe_id))
            return hooks.HANDLED  # section 8.5.1: subscription stanzas for no such account are ignored
        if presence_type == "probe":
            await self._probe(context.stanza, user, sender)
            return hooks.HANDLED
        kind = subscription_type(presence_type)
        if kind is not None and sender != user:
            await self._subscription_in(user, sender, context.stanza, kind)
        return hooks.HANDLED

    async def _subscription_in(self, user: JID, sender: JID, stanza: Element, kind: SubscriptionType) -> None:
        username, contact = str(user.local), str(sender)
        # Section 3.1.3: a request to a full JID SHOULD be taken as sent to the bare JID; from the contact's bare.
        copy = readdressed(stanza, sender, user)
        async with self._lock(username, contact):
            item, pending, state = await self._state(username, contact)
            transition = inbound(state, kind, item is not None and item.approved)
            if transition.forward:
                if kind == "subscribe":
                    # Section 3.1.3 rule 3: to every available resource (with none, it waits: rule 4).
                    recipients = self.host.sessions.available(user)
                else:
                    # Sections 3.1.6, 3.2.3 and 3.3.3: to every interested resource.
                    recipients = [s for s in self.host.sessions.resources(user) if s.interested]
                for session in recipients:
                    session.deliver(copy)
            # Section 3.1.3 rule 4: the complete request is kept, and delivered at each login until answered.
            request = to_bytes(copy) if kind == "subscribe" else None
            await self._apply(username, contact, item, pending, transition, request)
            if transition.reply is not None:
                # Section 3.1.3 rule 2: answered on the user's behalf, from the user's bare JID.
                self.host.router.route(presence(transition.reply, user, contact))
            if transition.presence == "available":
                await self.broadcaster.send_current(user, contact)
            elif transition.presence == "unavailable":
                # Section 3.3.3: unavailable presence from each of the user's available resources.
                await self.broadcaster.send_unavailable(user, contact)

    async def _probe(self, probe: Element, user: JID, prober: JID) -> None:
        """Section 4.3.2: a contact subscribed to the user's presence ("from", "both") may see it; so may the
        user (a client may probe its own account)."""
        subscribed = prober == user
        if not subscribed:
            item = await self._roster.get_item(str(user.local), str(prober))
            subscribed = item is not None and State.of(item.subscription, False, False).contact_subscribed
        await self.broadcaster.answer_probe(probe, user, prober, subscribed)

    # -- presence (section 4), carried out by the Broadcaster ------------------------------------------------

    @hook(hooks.PRESENCE_BROADCAST)
    async def broadcast(self, context: StanzaContext) -> None:
        session, user = context.session, context.sender.bare()
        if session is not None and self._local_user(user) is not None:
            await self.broadcaster.broadcast(context, session, user)

    @hook(hooks.INITIAL_PRESENCE)
    async def initial_presence(self, context: StanzaContext) -> None:
        session, user = context.session, context.sender.bare()
        if session is not None and self._local_user(user) is not None:
            await self.broadcaster.initial(session, user)

    @hook(hooks.RESOURCE_UNBOUND)
    async def resource_unbound(self, session: LocalSession) -> None:
        if self._local_user(session.jid) is not None:
            await self.broadcaster.resource_gone(session)

    @hook(hooks.BLOCK_LIST_CHANGED)
    async def block_list_changed(self, event: hooks.BlockListChanged) -> None:
        if event.host == self.host.name:
            await self.broadcaster.block_list_changed(event)

    @hook(hooks.ACCOUNT_DELETED)
    async def account_deleted(self, event: hooks.AccountDeleted) -> None:
        """Forget what is kept in memory of the account (its roster goes with the account's data)."""
        if event.host == self.host.name:
            self.broadcaster.forget_account(JID.make(event.username, self.host.name))

    # -- the state, read and saved through the roster module -------------------------------------------------

    async def _state(self, username: str, contact: str) -> tuple[RosterItem | None, bool, State]:
        item = await self._roster.get_item(username, contact)
        pending = any(request.jid == contact for request in await self._roster.pending(username))
        if item is None:
            return None, pending, State.of("none", False, pending)
        return item, pending, State.of(item.subscription, item.ask, pending)

    async def _apply(
        self,
        username: str,
        contact: str,
        item: RosterItem | None,
        pending: bool,
        transition: Transition,
        request: bytes | None,
    ) -> None:
        """Save ``transition``: the roster item (created only when it carries something, section 3.1.3 forbids
        an item for a mere request) and the pending request."""
        new = transition.state
        base = item if item is not None else RosterItem(contact)
        changed = replace(
            base, subscription=new.subscription, ask=new.pending_out, approved=transition.approved
        )
        if changed != base:
            # Only the subscription fields: the roster re-reads the item under its lock, so a rename or a
            # change of groups the user made since ``item`` was read is kept.
            await self._roster.set_subscription(
                username, contact, new.subscription, new.pending_out, transition.approved
            )
        if new.pending_in and not pending and request is not None:
            await self._roster.add_pending(username, contact, request)
        elif pending and not new.pending_in:
            await self._roster.remove_pending(username, contact)

    @contextlib.asynccontextmanager
    async def _lock(self, username: str, contact: str) -> AsyncIterator[None]:
        """One change at a time between a user and a contact; a lock lives while someone holds or awaits it."""
        key = (username, contact)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            users = self._locks[key][1] - 1
            if users:
                self._locks[key] = (lock, users)
            else:
                del self._locks[key]
