"""RFC 6121 section 4: the presence the server sends for a user's resources.

Broadcast (sections 4.2.2, 4.4.2 and 4.5.2), answers to probes (4.3.2), directed presence (4.6) and the presence
that follows blocking (XEP-0191 sections 3.3 and 3.4). ``xmppd.modules.presence`` owns the hooks and calls in.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

from xmppd import hooks
from xmppd.errors import JIDError
from xmppd.jid import JID, covers
from xmppd.modules.presence.directed import DirectedPresence
from xmppd.modules.presence.stanzas import addressed, last_unavailable, presence, serialized
from xmppd.modules.roster import Roster
from xmppd.routing.router import StanzaContext
from xmppd.routing.sessions import LocalSession
from xmppd.xml.document import parse_document
from xmppd.xml.element import Element

if TYPE_CHECKING:
    from xmppd.host import Host

log = logging.getLogger(__name__)


class Broadcaster:
    """The presence of one host's users, as the server sends it; in memory: directed presence and logouts."""

    def __init__(self, host: Host, remembered_logouts: int) -> None:
        self.host = host
        self.directed = DirectedPresence()
        self._limit = remembered_logouts
        self._logouts: OrderedDict[str, tuple[Element, int]] = OrderedDict()
        """Username -> the user's last unavailable presence and when it was sent (ns since the epoch)."""

    @property
    def roster(self) -> Roster:
        """The roster module (a dependency: loaded first)."""
        roster = self.host.modules["roster"]
        assert isinstance(roster, Roster)
        return roster

    def route(self, stanza: Element) -> None:
        self.host.router.route(stanza)

    async def outgoing(self, session: LocalSession, stanza: Element) -> Element:
        """A copy of ``stanza`` as the server sends it for ``session``: from its full JID, without 'to', folded
        through ``hooks.OUTGOING_PRESENCE``, and serialized (``stanzas.serialized``): only copies of it are sent."""
        copy = stanza.copy()
        copy.attrs.pop("to", None)
        copy.attrs["from"] = str(session.jid)
        folded: Element = await self.host.hooks.fold(hooks.OUTGOING_PRESENCE, session, copy)
        # Serialized once here; ``addressed`` copies carry the bytes with their 'to' added.
        return serialized(folded)

    async def send_current(self, user: JID, to: JID | str) -> None:
        """The current presence of each of the user's available resources, to ``to``."""
        for session in self.host.sessions.available(user):
            if session.presence is not None:
                self.route(addressed(await self.outgoing(session, session.presence), to))

    async def send_unavailable(self, user: JID, to: JID | str) -> None:
        """Unavailable presence from each of the user's available resources, to ``to``."""
        for session in self.host.sessions.available(user):
            await self._unavailable(session, to)

    async def _unavailable(self, session: LocalSession, to: JID | str) -> None:
        unavailable = presence("unavailable", session.jid, to)
        self.route(addressed(await self.outgoing(session, unavailable), to))

    # -- broadcast (sections 4.2.2, 4.4.2, 4.5.2) ------------------------------------------------------------

    async def broadcast(self, context: StanzaContext, session: LocalSession, user: JID) -> None:
        """Available or unavailable presence a resource sent with no 'to' (the router updated the session)."""
        unavailable = context.stanza.attrs.get("type") == "unavailable"
        directed = self.directed.pop(session.jid) if unavailable else []
        if unavailable and not self.host.sessions.available(user):
            self._remember_logout(str(user.local), context.stanza, context.stamp)
        stanza = await self.outgoing(session, context.stanza)
        items = await self.roster.items(str(user.local))
        # Sections 4.2.2, 4.4.2 and 4.5.2: to every contact subscribed to the user's presence.
        contacts = {item.jid for item in items if item.subscription in ("from", "both")}
        for contact in sorted(contacts):
            self.route(addressed(stanza, contact))
        # Section 4.5.2 (and 4.6.3): also to the addresses the resource sent directed presence to.
        for target in directed:
            if str(target.bare()) not in contacts:
                self.route(addressed(stanza, target))
        # Sections 4.2.2, 4.4.2 and 4.5.2: to all of the user's available resources, the sender included (an
        # entity is implicitly subscribed to its own presence), unless it is gone.
        own = self.host.sessions.available(user)
        if unavailable and self.host.sessions.get(session.jid) is session:
            own.append(session)
        for resource in own:
            self.route(addressed(stanza, resource.jid))

    async def initial(self, session: LocalSession, user: JID) -> None:
        """What a resource's first available presence brings (after ``broadcast``)."""
        username = str(user.local)
        items = await self.roster.items(username)
        for item in items:
            if item.subscription in ("to", "both"):
                # Sections 4.2.2 and 4.3.1: a probe, from the user's bare JID, to each contact the user is
                # subscribed to; their servers answer with the contacts' presence.
                self.route(presence("probe", user, item.jid))
        others = [s for s in self.host.sessions.available(user) if s is not session]
        for other in others:
            if other.presence is not None:
                # Section 4.2.2 (the user is subscribed to itself): the other resources' presence.
                self.route(addressed(await self.outgoing(other, other.presence), session.jid))
        if self.host.sessions.get(session.jid) is session:
            # Section 3.1.3 rule 4: each request not answered yet, at every new available resource.
            for request in await self.roster.pending(username):
                try:
                    session.deliver(parse_document(request.stanza))
                except ValueError:
                    log.error(
                        "stored subscription request of %s from %s is unreadable", username, request.jid
                    )
        if not others:
            # Section 3.1.2: requests a remote contact never answered SHOULD be sent again now and then: when
            # the user comes online (a local contact has the request kept for it already).
            for item in items:
                if item.ask and JID.parse(item.jid).domain not in self.host.router.hosts:
                    self.route(presence("subscribe", user, item.jid))

    def _remember_logout(self, username: str, stanza: Element, stamp: int) -> None:
        if self._limit <= 0:
            return
        self._logouts[username] = (stanza.copy(), stamp)
        self._logouts.move_to_end(username)
        while len(self._logouts) > self._limit:
            self._logouts.popitem(last=False)

    # -- probes (section 4.3.2) ------------------------------------------------------------------------------

    async def answer_probe(self, probe: Element, user: JID, prober: JID, subscribed: bool) -> None:
        """Answer ``prober``'s probe of ``user``; ``subscribed``: the prober may see the user's presence."""
        reply_to = probe.attrs.get("from") or str(prober)
        probe_id = probe.attrs.get("id")
        if not subscribed:
            if not await self._answer_directed(probe, prober, reply_to):
                # Rule 1: not subscribed: SHOULD be answered "unsubscribed" (which MUST NOT cancel a
                # pre-approval: the prober's server applies it to the prober's state, not to ours).
                self.route(presence("unsubscribed", user, prober, probe_id))
            return
        available = [s for s in self.host.sessions.available(user) if s.presence is not None]
        for session in available:
            # Rule 4 (MUST): the full XML of the last presence of each available resource, from its full JID.
            assert session.presence is not None
            self.route(addressed(await self.outgoing(session, session.presence), reply_to))
        if not available:
            # Rule 3 (SHOULD): unavailable presence, with the time and content of the last one when known.
            last, stamp = self._logouts.get(str(user.local), (None, None))
            self.route(last_unavailable(user, reply_to, last, stamp, probe_id))

    async def _answer_directed(self, probe: Element, prober: JID, reply_to: str) -> bool:
        """A probe of one resource by an address it sent directed presence to (section 4.6): that resource
        chose to show itself to the prober, which gets its presence. True when answered so."""
        try:
            to = JID.parse(probe.attrs.get("to", ""))
        except JIDError:
            return False
        session = self.host.sessions.get(to) if to.resource is not None else None
        if session is None or session.presence is None:
            return False
        if not any(target.bare() == prober for target in self.directed.targets(to)):
            return False
        self.route(addressed(await self.outgoing(session, session.presence), reply_to))
        return True

    # -- directed presence (section 4.6) ---------------------------------------------------------------------

    async def directed_out(self, session: LocalSession, to: JID, available: bool) -> None:
        """A resource sent available (or unavailable) presence to ``to``."""
        user = session.jid.bare()
        if to.bare() == user:
            return  # the user's own resources see each other through the broadcast
        if not available:
            # Section 4.6.3: an address sent directed unavailable presence is forgotten.
            self.directed.unavailable(session.jid, to)
            return
        item = await self.roster.get_item(str(user.local), str(to.bare()))
        if item is None or item.subscription not in ("from", "both"):
            # Section 4.6.3: remembered when the broadcast would not reach it.
            self.directed.available(session.jid, to)

    async def resource_gone(self, session: LocalSession) -> None:
        """A session ended: the addresses it still shows itself to get unavailable presence (section 4.6.3;
        one that was available has had it with the broadcast of section 4.5.1, which emptied its list)."""
        for target in self.directed.pop(session.jid):
            await self._unavailable(session, target)

    # -- blocking (XEP-0191 sections 3.3 and 3.4) ------------------------------------------------------------

    async def block_list_changed(self, event: hooks.BlockListChanged) -> None:
        user = JID.make(event.username, self.host.name)
        sessions = self.host.sessions.available(user)
        if not sessions:
            return
        items = await self.roster.items(event.username)
        subscribed = [JID.parse(item.jid) for item in items if item.subscription in ("from", "both")]
        for text in event.blocked:
            blocked = JID.parse(text)
            for session in sessions:
                # Section 3.3: unavailable presence to the newly blocked who may see the user's presence, and
                # to those a resource sent directed presence to (their promise ends here).
                gone = self.directed.remove_matching(session.jid, functools.partial(covers, blocked))
                for target in [*_covered(blocked, subscribed), *gone]:
                    await self._unavailable(session, target)
        for text in event.unblocked:
            unblocked = JID.parse(text)
            # Section 3.4: the current presence to the unblocked contacts subscribed to the user's presence.
            for target in _covered(unblocked, subscribed):
                await self.send_current(user, target)

    def forget_account(self, user: JID) -> None:
        """The account is being deleted. Its sessions are closed after this, and their lists of directed
        presence are emptied then, with the unavailable presence they owe; anything else is forgotten now."""
        bound = {session.jid for session in self.host.sessions.resources(user)}
        self.directed.forget_account(user, keep=bound)
        self._logouts.pop(str(user.local), None)


def _covered(item: JID, contacts: list[JID]) -> list[JID]:
    """The addresses among ``contacts`` (bare JIDs) a block-list ``item`` is about: a full JID item is itself
    one, when its bare JID is a contact."""
    if item.local is not None and item.resource is not None:
        return [item] if item.bare() in contacts else []
    return [contact for contact in contacts if covers(item, contact)]
