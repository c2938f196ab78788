"""Shared by the presence module's tests: a harness with roster and presence, a remote domain, and readers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from tests.helpers.harness import FakeSession, Harness
from xmppd import hooks
from xmppd.jid import JID
from xmppd.modules.roster import Roster
from xmppd.storage.roster import RosterItem, Subscription
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_ROSTER

ALICE = "alice@localhost"
BOB = "bob@localhost"
CAROL = "carol@localhost"
JULIET = "juliet@remote.example"


@dataclass
class World:
    """The harness, and what it routed to other domains (as federation would have to send it)."""

    harness: Harness
    remote: list[Element] = field(default_factory=list)

    @property
    def roster(self) -> Roster:
        return cast(Roster, self.harness.host.modules["roster"])

    async def route(self, xml: str | Element, origin: FakeSession | None = None) -> Element:
        return await self.harness.route(xml, origin)

    async def login(self, jid: str, presence: str = "<presence/>") -> tuple[FakeSession, list[Element]]:
        """A resource that requested the roster and sent initial presence, and what that brought it."""
        session = self.harness.bind(jid, available=False)
        session.interested = True
        # As a client session does: the roster module then keeps the user's roster in memory.
        await self.harness.host.hooks.fire(hooks.RESOURCE_BOUND, session)
        await self.route(presence, session)
        return session, session.take()

    async def online(self, jid: str, presence: str = "<presence/>") -> FakeSession:
        """``login``, with what it brought taken."""
        return (await self.login(jid, presence))[0]

    async def set_state(
        self, user: str, contact: str, subscription: Subscription, ask: bool = False, approved: bool = False
    ) -> None:
        """Store a subscription state directly (no pushes are observed: sessions come later or are taken)."""
        item = RosterItem(contact, subscription=subscription, ask=ask, approved=approved)
        await self.roster.save_item(JID.parse(user).local or "", item)

    async def item(self, user: str, contact: str) -> RosterItem | None:
        return await self.roster.get_item(JID.parse(user).local or "", contact)

    async def pending(self, user: str) -> list[str]:
        return [request.jid for request in await self.roster.pending(JID.parse(user).local or "")]

    def take_remote(self) -> list[tuple[str | None, str | None, str | None]]:
        sent, self.remote = self.remote, []
        return presences(sent)


@contextlib.asynccontextmanager
async def make_world(modules: tuple[str, ...] = ("presence",)) -> AsyncIterator[World]:
    """Accounts alice, bob and carol on localhost; everything for other domains captured in ``remote``."""
    harness = await Harness.create(modules=modules)
    for name in ("alice", "bob", "carol"):
        await harness.add_account(name)
    created = World(harness)
    harness.router.remote = lambda stanza, _jid: created.remote.append(stanza)
    try:
        yield created
    finally:
        await harness.close()


def presences(stanzas: list[Element]) -> list[tuple[str | None, str | None, str | None]]:
    """(type, from, to) of each presence, in order; other stanzas left out."""
    return [
        (s.attrs.get("type"), s.attrs.get("from"), s.attrs.get("to")) for s in stanzas if s.name == "presence"
    ]


def pushes(stanzas: list[Element]) -> list[dict[str, str]]:
    """The item of each roster push, in order (without 'jid' when there is only one contact in play)."""
    found = []
    for stanza in stanzas:
        query = stanza.find("query", NS_ROSTER)
        if stanza.name == "iq" and stanza.attrs.get("type") == "set" and query is not None:
            for item in query.find_all("item", NS_ROSTER):
                found.append(dict(item.attrs))
    return found


def push(jid: str, subscription: str, ask: bool = False, approved: bool = False) -> dict[str, str]:
    attrs = {"jid": jid, "subscription": subscription}
    if ask:
        attrs["ask"] = "subscribe"
    if approved:
        attrs["approved"] = "true"
    return attrs
