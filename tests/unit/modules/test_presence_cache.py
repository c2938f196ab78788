"""Presence with the rosters of online users kept in memory (``xmppd.storage.roster_cache``): every change made
through the roster and presence modules is seen by the next broadcast, and nothing is kept past the last session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.xml import parse
from tests.unit.modules.presence_helpers import ALICE, BOB, CAROL, World, make_world, presences
from xmppd import hooks
from xmppd.storage.roster import Roster
from xmppd.storage.roster_cache import RosterCache


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with make_world() as created:
        yield created


def cache(world: World) -> RosterCache:
    return world.harness.storage.roster_cache


async def test_a_roster_is_kept_from_login_until_the_last_session_ends(world: World) -> None:
    assert not cache(world).is_kept("localhost", "alice")
    home = await world.online(f"{ALICE}/home")
    phone = await world.online(f"{ALICE}/phone")
    assert cache(world).is_kept("localhost", "alice")
    for session in (home, phone):
        world.harness.sessions.unbind(session)
        await world.harness.host.hooks.fire(hooks.RESOURCE_UNBOUND, session)
        # Kept while one session is left; forgotten with the last.
        assert cache(world).is_kept("localhost", "alice") is (session is home)


async def test_a_subscription_made_online_is_seen_by_the_next_broadcast(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    await world.route("<presence><show>away</show></presence>", alice)
    assert bob.take() == []  # not subscribed yet (and Alice's roster is kept now)
    # RFC 6121 section 3.1: Bob subscribes to Alice's presence, Alice approves.
    await world.route(f"<presence type='subscribe' to='{ALICE}'/>", bob)
    await world.route(f"<presence type='subscribed' to='{BOB}'/>", alice)
    bob.take()
    alice.take()
    await world.route("<presence><show>chat</show></presence>", alice)
    assert presences(bob.take()) == [(None, f"{ALICE}/home", BOB)]


async def test_a_removed_contact_gets_no_more_presence(world: World) -> None:
    await world.set_state(ALICE, BOB, "both")
    await world.set_state(BOB, ALICE, "both")
    bob = await world.online(f"{BOB}/work")
    alice = await world.online(f"{ALICE}/home")
    assert presences(bob.take()) == [(None, f"{ALICE}/home", BOB)]
    item = f"<item jid='{BOB}' subscription='remove'/>"
    await world.route(f"<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>{item}</query></iq>", alice)
    # Section 2.5.2: unavailable presence, and the subscriptions end both ways.
    assert presences(bob.take()) == [
        ("unavailable", f"{ALICE}/home", BOB),
        ("unsubscribe", ALICE, BOB),
        ("unsubscribed", ALICE, BOB),
    ]
    await world.route("<presence><show>chat</show></presence>", alice)
    assert bob.take() == []


async def test_a_deleted_account_leaves_nothing_kept(world: World) -> None:
    await world.set_state(ALICE, BOB, "both")
    await world.set_state(BOB, ALICE, "both")
    bob = await world.online(f"{BOB}/work")
    await world.online(f"{ALICE}/home")
    assert (await cache(world).get_roster("localhost", "alice")).items
    assert await world.harness.host.delete_account("alice")
    # The harness's sessions only record being closed: Alice's is still bound, and her roster still kept.
    assert cache(world).is_kept("localhost", "alice")
    assert await cache(world).get_roster("localhost", "alice") == Roster(0, ())
    assert await world.item(BOB, ALICE) is not None
    bob.take()
    # Bob's roster, kept, says what the deletion made of it (section 2.5.2): Alice is no longer subscribed.
    await world.route("<presence><show>chat</show></presence>", bob)
    assert [p for p in presences(bob.take()) if p[2] != str(bob.jid)] == []


async def test_a_broadcast_is_serialized_once_and_addressed_to_each(world: World) -> None:
    for contact in (BOB, CAROL):
        await world.set_state(ALICE, contact, "from")
    bob = await world.online(f"{BOB}/work")
    carol = await world.online(f"{CAROL}/desk")
    alice = await world.online(f"{ALICE}/it's <mine>")
    bob.take()
    carol.take()
    await world.route("<presence><status>a &amp; b</status></presence>", alice)
    for session, contact in ((bob, BOB), (carol, CAROL)):
        (received,) = session.take()
        assert received.attrs["to"] == contact
        # The bytes a client stream writes as they are (Element.source) say what the element says.
        assert received.source is not None
        assert parse(received.source.decode()) == received
        assert received.child_text("status") == "a & b"
