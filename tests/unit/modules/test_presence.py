"""RFC 6121 section 3 through the presence module: subscription requests, approvals, cancellations, pre-approval,
local and remote contacts. Broadcast, probes and directed presence: test_presence_broadcast.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.modules.presence_helpers import (
    ALICE,
    BOB,
    JULIET,
    World,
    make_world,
    presences,
    push,
    pushes,
)
from xmppd.jid import JID
from xmppd.modules.presence import Presence
from xmppd.xml.ns import NS_PRE_APPROVAL


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with make_world() as created:
        yield created


def test_pre_approval_is_advertised_as_a_stream_feature() -> None:
    # Section 3.4: the stream feature <sub xmlns='urn:xmpp:features:pre-approval'/>.
    assert (NS_PRE_APPROVAL, "sub") in Presence.stream_features
    assert Presence.depends == ("roster",)


async def test_request_to_an_offline_contact_waits_for_the_next_login_and_is_approved(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence type='subscribe' to='{BOB}' id='s1'><status>hi</status></presence>", alice)
    # Section 3.1.2: the roster push (none + ask) to the user's interested resources.
    assert pushes(alice.take()) == [push(BOB, "none", ask=True)]
    # Section 3.1.3 rule 4: kept for later; and no roster item for a mere request ("None + Pending In").
    assert await world.pending(BOB) == [ALICE]
    assert await world.item(BOB, ALICE) is None

    bob, received = await world.login(f"{BOB}/work")
    request = [s for s in received if s.attrs.get("type") == "subscribe"]
    assert presences(request) == [("subscribe", ALICE, BOB)]
    # The complete request, content and id included.
    assert request[0].attrs["id"] == "s1" and request[0].child_text("status") == "hi"

    await world.route(f"<presence type='subscribed' to='{ALICE}'/>", bob)
    # Section 3.1.5: the contact's push says "from"; the request is answered.
    assert pushes(bob.take()) == [push(ALICE, "from")]
    assert await world.pending(BOB) == []
    received = alice.take()
    # Section 3.1.6: the approval and the push ("to"); section 3.1.5: Bob's current presence.
    assert ("subscribed", BOB, ALICE) in presences(received)
    assert (None, f"{BOB}/work", ALICE) in presences(received)
    assert pushes(received) == [push(BOB, "to")]


async def test_request_to_an_online_contact_is_delivered_once(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    bob_phone = await world.online(f"{BOB}/phone")
    bob.take()
    for _ in range(2):
        await world.route(f"<presence type='subscribe' to='{BOB}/work'/>", alice)
    # Section 3.1.3 rule 3: to every available resource; A.3.1: a request pending already is not delivered.
    for session in (bob, bob_phone):
        assert presences(session.take()) == [("subscribe", ALICE, BOB)]
    # A.2.1: routed both times, but the state changed once: one push.
    assert pushes(alice.take()) == [push(BOB, "none", ask=True)]


async def test_outbound_stanza_is_a_stamped_copy_to_the_bare_jid(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    sent = await world.route(f"<presence type='subscribe' to='{JULIET}/balcony' id='x'/>", alice)
    # Sections 3.1.2 and 3: from the user's bare JID, to the contact's bare JID, the original untouched.
    assert world.take_remote() == [("subscribe", ALICE, JULIET)]
    assert world.remote == []
    assert sent.attrs == {"type": "subscribe", "to": f"{JULIET}/balcony", "id": "x", "from": f"{ALICE}/home"}
    assert await world.item(ALICE, JULIET) is not None


async def test_denied_request(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    await world.route(f"<presence type='subscribe' to='{BOB}'/>", alice)
    alice.take(), bob.take()
    await world.route(f"<presence type='unsubscribed' to='{ALICE}'/>", bob)
    # A.2.4 / A.3.4: routed, delivered; Alice's push drops the ask; Bob has no item to push, and no request.
    received = alice.take()
    assert presences(received) == [("unsubscribed", BOB, ALICE)]
    assert pushes(received) == [push(BOB, "none")]
    assert bob.take() == []
    assert await world.pending(BOB) == [] and await world.item(BOB, ALICE) is None


async def test_cancelling_a_subscription_sends_unavailable_first(world: World) -> None:
    await world.set_state(ALICE, BOB, "both")
    await world.set_state(BOB, ALICE, "both")
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    alice.take(), bob.take()
    await world.route(f"<presence type='unsubscribed' to='{ALICE}'/>", bob)
    # Section 3.2.2: unavailable from each of Bob's resources while Alice is still subscribed, then the
    # cancellation; section 3.2.3: delivered, and the push.
    received = alice.take()
    assert presences(received) == [("unavailable", f"{BOB}/work", ALICE), ("unsubscribed", BOB, ALICE)]
    assert pushes(received) == [push(BOB, "from")]
    assert pushes(bob.take()) == [push(ALICE, "to")]


async def test_unsubscribing(world: World) -> None:
    await world.set_state(ALICE, BOB, "both")
    await world.set_state(BOB, ALICE, "both")
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    alice.take(), bob.take()
    await world.route(f"<presence type='unsubscribe' to='{BOB}'/>", alice)
    # Section 3.3.3: delivered to Bob's interested resources, Bob's push, and unavailable from his resources.
    received = bob.take()
    assert presences(received) == [("unsubscribe", ALICE, BOB)]
    assert pushes(received) == [push(ALICE, "to")]
    received = alice.take()
    assert presences(received) == [("unavailable", f"{BOB}/work", ALICE)]
    assert pushes(received) == [push(BOB, "from")]  # section 3.3.2


async def test_pre_approval_then_request_is_answered_on_the_users_behalf(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    bob = await world.online(f"{BOB}/work")
    await world.route(f"<presence type='subscribed' to='{ALICE}'/>", bob)
    # Section 3.4 rule 4: an item with approved='true', pushed; the stanza is not routed.
    assert pushes(bob.take()) == [push(ALICE, "none", approved=True)]
    assert alice.take() == []

    await world.route(f"<presence type='subscribe' to='{BOB}'/>", alice)
    # Section 3.1.3 rule 2: Bob's server answers; Bob sees no request, only the push ("from", approval used).
    assert pushes(bob.take()) == [push(ALICE, "from")]
    received = alice.take()
    assert ("subscribed", BOB, ALICE) in presences(received)
    assert (None, f"{BOB}/work", ALICE) in presences(received)
    assert pushes(received) == [push(BOB, "none", ask=True), push(BOB, "to")]


async def test_pre_approval_cancelled_by_unsubscribed(world: World) -> None:
    bob = await world.online(f"{BOB}/work")
    await world.route(f"<presence type='subscribed' to='{JULIET}'/>", bob)
    await world.route(f"<presence type='unsubscribed' to='{JULIET}'/>", bob)
    # Section 3.2.2: the pre-approval goes, and nothing reaches the contact.
    assert pushes(bob.take()) == [push(JULIET, "none", approved=True), push(JULIET, "none")]
    assert world.remote == []


async def test_subscribed_to_a_subscribed_contact_is_ignored(world: World) -> None:
    await world.set_state(BOB, JULIET, "from")
    bob = await world.online(f"{BOB}/work")
    world.take_remote()
    await world.route(f"<presence type='subscribed' to='{JULIET}'/>", bob)
    # Section 3.4 rule 1: silently ignored.
    assert world.remote == [] and bob.take() == []


async def test_remote_contact_request_approval_and_presence(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence type='subscribe' from='{JULIET}/balcony' to='{ALICE}/home' id='r1'/>")
    # Section 3.1.3: as if to the bare JID, from the contact's bare JID.
    assert presences(alice.take()) == [("subscribe", JULIET, ALICE)]
    await world.route(f"<presence type='subscribed' to='{JULIET}'/>", alice)
    # Section 3.1.5: the approval, then Alice's current presence from her full JID.
    assert world.take_remote() == [("subscribed", ALICE, JULIET), (None, f"{ALICE}/home", JULIET)]
    assert pushes(alice.take()) == [push(JULIET, "from")]

    await world.route("<presence><show>away</show></presence>", alice)
    assert world.take_remote() == [(None, f"{ALICE}/home", JULIET)]  # section 4.4.2
    assert presences(alice.take()) == [(None, f"{ALICE}/home", f"{ALICE}/home")]
    # And Alice asks back; Juliet's server answers as federation would route it.
    await world.route(f"<presence type='subscribe' to='{JULIET}'/>", alice)
    assert world.take_remote() == [("subscribe", ALICE, JULIET)]
    await world.route(f"<presence type='subscribed' from='{JULIET}' to='{ALICE}'/>")
    received = alice.take()
    assert presences(received) == [("subscribed", JULIET, ALICE)]
    assert pushes(received) == [push(JULIET, "from", ask=True), push(JULIET, "both")]


async def test_remote_request_to_a_subscribed_user_is_answered_at_once(world: World) -> None:
    await world.set_state(ALICE, JULIET, "from")
    alice = await world.online(f"{ALICE}/home")
    world.take_remote(), alice.take()
    await world.route(f"<presence type='subscribe' from='{JULIET}' to='{ALICE}'/>")
    # Section 3.1.3 rule 2: "subscribed" from the user's bare JID, not delivered to the user.
    assert world.take_remote() == [("subscribed", ALICE, JULIET), (None, f"{ALICE}/home", JULIET)]
    assert alice.take() == []


async def test_unanswered_request_is_delivered_at_every_login(world: World) -> None:
    await world.route(f"<presence type='subscribe' from='{JULIET}' to='{BOB}'/>")
    # Section 3.1.3 rule 4: at every new available resource until answered.
    for resource in ("one", "two"):
        _, received = await world.login(f"{BOB}/{resource}")
        assert ("subscribe", JULIET, BOB) in presences(received)
    bob = world.harness.sessions.get(JID.parse(f"{BOB}/two"))
    assert bob is not None
    await world.route(f"<presence type='unsubscribed' to='{JULIET}'/>", bob)  # type: ignore[arg-type]
    assert world.take_remote() == [("unsubscribed", BOB, JULIET)]
    _, received = await world.login(f"{BOB}/three")
    assert ("subscribe", JULIET, BOB) not in presences(received)


async def test_stanzas_for_no_such_account_are_ignored(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    for kind in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
        await world.route(f"<presence type='{kind}' from='{JULIET}' to='nobody@localhost'/>")
    # Section 8.5.1: silently ignored (a local user's request waits like one to a silent remote contact).
    assert world.remote == []
    await world.route("<presence type='subscribe' to='nobody@localhost'/>", alice)
    assert presences(alice.take()) == []
    assert await world.pending("nobody@localhost") == []


async def test_subscription_to_oneself_is_ignored(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence type='subscribe' to='{ALICE}'/>", alice)
    assert alice.take() == [] and await world.item(ALICE, ALICE) is None
