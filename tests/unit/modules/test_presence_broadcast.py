"""RFC 6121 section 4 through the presence module: broadcast, probes, directed presence, and the presence that
follows blocking (XEP-0191 sections 3.3 and 3.4)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession
from tests.unit.modules.presence_helpers import ALICE, BOB, CAROL, JULIET, World, make_world, presences
from xmppd import hooks
from xmppd.modules.presence import Presence
from xmppd.routing.sessions import LocalSession
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_DELAY


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with make_world() as created:
        yield created


async def log_off(world: World, session: FakeSession) -> None:
    """What a client session does when its connection ends (``ClientSession._unbind``)."""
    was_available = session.available
    world.harness.sessions.unbind(session)
    session.available = False
    if was_available:
        unavailable = Element("presence", NS_CLIENT, {"type": "unavailable"})
        await world.route(unavailable, session)
    await world.harness.host.hooks.fire(hooks.RESOURCE_UNBOUND, session)
    await world.harness.router.drain()


def module(world: World) -> Presence:
    found = world.harness.host.modules["presence"]
    assert isinstance(found, Presence)
    return found


async def test_initial_presence(world: World) -> None:
    await world.set_state(ALICE, BOB, "both")
    await world.set_state(BOB, ALICE, "both")
    await world.set_state(ALICE, JULIET, "to")
    bob = await world.online(f"{BOB}/work")
    carol = await world.online(f"{CAROL}/desk")
    world.take_remote()
    _, received = await world.login(f"{ALICE}/home", "<presence id='p1'><show>chat</show></presence>")
    # Section 4.2.2: to each contact subscribed to Alice, from her full JID, the whole stanza.
    (to_bob,) = bob.take()
    assert presences([to_bob]) == [(None, f"{ALICE}/home", BOB)]
    assert to_bob.attrs["id"] == "p1" and to_bob.child_text("show") == "chat"
    assert carol.take() == []
    # Sections 4.2.2 and 4.3.1: probes from Alice's bare JID to those she is subscribed to.
    assert world.take_remote() == [("probe", ALICE, JULIET)]
    # Alice's own presence comes back to her (4.2.2), and Bob's server (here) answers her probe (4.3.2).
    assert presences(received) == [(None, f"{ALICE}/home", f"{ALICE}/home"), (None, f"{BOB}/work", ALICE)]


async def test_a_users_resources_see_each_other(world: World) -> None:
    home = await world.online(f"{ALICE}/home")
    phone, received = await world.login(f"{ALICE}/phone", "<presence><priority>5</priority></presence>")
    assert presences(home.take()) == [(None, f"{ALICE}/phone", f"{ALICE}/home")]
    # Section 4.2.2: the new resource gets its own presence and the others'.
    assert sorted(presences(received)) == [
        (None, f"{ALICE}/home", f"{ALICE}/phone"),
        (None, f"{ALICE}/phone", f"{ALICE}/phone"),
    ]
    await world.route("<presence type='unavailable'><status>bye</status></presence>", phone)
    # Section 4.5.2: to the other resources, and to the one that sent it.
    assert presences(home.take()) == [("unavailable", f"{ALICE}/phone", f"{ALICE}/home")]
    assert presences(phone.take()) == [("unavailable", f"{ALICE}/phone", f"{ALICE}/phone")]


async def test_unavailable_reaches_contacts_when_the_session_ends(world: World) -> None:
    await world.set_state(ALICE, BOB, "from")
    await world.set_state(ALICE, JULIET, "both")
    bob = await world.online(f"{BOB}/work")
    alice = await world.online(f"{ALICE}/home")
    bob.take(), world.take_remote()
    await log_off(world, alice)
    # Section 4.5.1/4.5.2: the server broadcasts unavailable presence for a session that ends.
    assert presences(bob.take()) == [("unavailable", f"{ALICE}/home", BOB)]
    assert world.take_remote() == [("unavailable", f"{ALICE}/home", JULIET)]
    assert alice.take() == []  # gone: nothing more is delivered to it


async def test_every_presence_sent_for_a_session_is_folded(world: World) -> None:
    async def add_mark(session: LocalSession, presence: Element) -> Element:
        presence.add("x", "urn:example:mark")
        return presence

    world.harness.host.hooks.add(hooks.OUTGOING_PRESENCE, add_mark)
    await world.set_state(ALICE, BOB, "from")
    await world.set_state(BOB, ALICE, "to")
    bob = await world.online(f"{BOB}/work")
    alice, received = await world.login(f"{ALICE}/home")
    assert [s.find("x", "urn:example:mark") is not None for s in (*bob.take(), *received)] == [True, True]
    await world.route(f"<presence type='probe' from='{BOB}' to='{ALICE}'/>")
    (answer,) = bob.take()
    assert answer.find("x", "urn:example:mark") is not None
    # The session's own presence, as the client sent it, is not changed.
    assert alice.presence is not None and alice.presence.find("x", "urn:example:mark") is None


async def test_probe_answers(world: World) -> None:
    await world.set_state(ALICE, BOB, "from")
    bob = await world.online(f"{BOB}/work")
    carol = await world.online(f"{CAROL}/desk")
    bob.take()
    probe = "<presence type='probe' id='q1' from='{}' to='{}'/>"
    # Section 4.3.2 rule 3: no available resource (and nothing remembered): unavailable, from the bare JID.
    await world.route(probe.format(BOB, ALICE))
    (answer,) = bob.take()
    assert presences([answer]) == [("unavailable", ALICE, BOB)] and answer.attrs["id"] == "q1"
    # Rule 4: the last presence of each available resource, from its full JID.
    home = await world.online(f"{ALICE}/home", "<presence id='h'><show>away</show></presence>")
    phone = await world.online(f"{ALICE}/phone")
    bob.take()
    await world.route(probe.format(BOB, ALICE))
    answers = bob.take()
    assert sorted(presences(answers)) == [(None, f"{ALICE}/home", BOB), (None, f"{ALICE}/phone", BOB)]
    assert {a.attrs["from"]: a.attrs.get("id") for a in answers}[f"{ALICE}/home"] == "h"
    # Rule 3 again: the content of the last unavailable presence, with the time it was sent (XEP-0203).
    await world.route("<presence type='unavailable' id='u1'><status>out</status></presence>", phone)
    await world.route("<presence type='unavailable' id='u2'><status>gone</status></presence>", home)
    bob.take()
    await world.route(probe.format(BOB, ALICE))
    (answer,) = bob.take()
    assert presences([answer]) == [("unavailable", ALICE, BOB)]
    assert answer.attrs["id"] == "u2" and answer.child_text("status") == "gone"
    delay = answer.find("delay", NS_DELAY)
    assert delay is not None and delay.attrs["stamp"].endswith("Z")
    # Rule 1: a prober not subscribed gets "unsubscribed"; so does one probing an account that does not exist
    # (section 8.5.1). A local prober's server ignores it (A.3.4: nothing to cancel).
    await world.route(probe.format(JULIET, ALICE))
    await world.route(probe.format(JULIET, "nobody@localhost"))
    assert world.take_remote() == [
        ("unsubscribed", ALICE, JULIET),
        ("unsubscribed", "nobody@localhost", JULIET),
    ]
    await world.route(probe.format(CAROL, ALICE))
    assert carol.take() == []


async def test_client_probes_are_sent_from_the_bare_jid(world: World) -> None:
    await world.set_state(BOB, ALICE, "from")
    bob = await world.online(f"{BOB}/work")
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence type='probe' to='{BOB}'/>", alice)
    # Section 4.3: from the bare JID; Bob's answer reaches Alice's available resources.
    assert presences(alice.take()) == [(None, f"{BOB}/work", ALICE)]
    await world.route(f"<presence type='probe' to='{ALICE}'/>", alice)  # one's own account: subscribed to it
    assert presences(alice.take()) == [(None, f"{ALICE}/home", ALICE)]
    await world.route(f"<presence type='probe' to='{JULIET}'/>", bob)
    assert world.take_remote() == [("probe", BOB, JULIET)]


async def test_directed_presence(world: World) -> None:
    await world.set_state(ALICE, BOB, "from")
    bob = await world.online(f"{BOB}/work")
    carol = await world.online(f"{CAROL}/desk")
    alice = await world.online(f"{ALICE}/home")
    bob.take()
    sent = f"<presence to='{{}}'><status>{'only for you'}</status></presence>"
    for to in (f"{CAROL}/desk", JULIET, BOB):
        await world.route(sent.format(to), alice)
    # Section 4.6.3: routed unchanged, from the full JID.
    (to_carol,) = carol.take()
    assert presences([to_carol]) == [(None, f"{ALICE}/home", f"{CAROL}/desk")]
    assert to_carol.child_text("status") == "only for you"
    assert world.take_remote() == [(None, f"{ALICE}/home", JULIET)]
    bob.take()
    # Subsequent broadcast presence is not sent to them (section 4.6.1).
    await world.route("<presence><show>dnd</show></presence>", alice)
    assert carol.take() == [] and world.remote == []
    # Directed unavailable presence ends it for that address (section 4.6.3) ...
    await world.route(f"<presence type='unavailable' to='{CAROL}/desk'/>", alice)
    assert presences(carol.take()) == [("unavailable", f"{ALICE}/home", f"{CAROL}/desk")]
    # ... and broadcast unavailable for the rest (section 4.5.2); Bob, a subscriber, gets it once.
    bob.take()
    await world.route("<presence type='unavailable'/>", alice)
    assert carol.take() == []
    assert world.take_remote() == [("unavailable", f"{ALICE}/home", JULIET)]
    assert presences(bob.take()) == [("unavailable", f"{ALICE}/home", BOB)]
    await world.route("<presence type='unavailable'/>", alice)
    assert world.remote == []  # the list is empty now


async def test_directed_presence_cancelled_when_the_session_ends(world: World) -> None:
    session = world.harness.bind(f"{ALICE}/muc-only", available=False)
    await world.route(f"<presence to='{JULIET}/nick'/>", session)
    assert world.take_remote() == [(None, f"{ALICE}/muc-only", f"{JULIET}/nick")]
    await log_off(world, session)
    assert world.take_remote() == [("unavailable", f"{ALICE}/muc-only", f"{JULIET}/nick")]


async def test_a_probe_of_the_resource_by_a_directed_presence_recipient(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence to='{JULIET}'/>", alice)
    world.take_remote()
    await world.route(f"<presence type='probe' from='{JULIET}' to='{ALICE}/home'/>")
    assert world.take_remote() == [(None, f"{ALICE}/home", JULIET)]
    await world.route(f"<presence type='probe' from='{JULIET}' to='{ALICE}'/>")
    assert world.take_remote() == [("unsubscribed", ALICE, JULIET)]  # section 4.3.2 rule 1


async def test_unanswered_requests_to_remote_contacts_are_sent_again_at_login(world: World) -> None:
    await world.set_state(ALICE, JULIET, "none", ask=True)
    await world.set_state(ALICE, BOB, "none", ask=True)
    await world.online(f"{ALICE}/home")
    assert world.take_remote() == [("subscribe", ALICE, JULIET)]  # section 3.1.2
    await world.online(f"{ALICE}/phone")
    assert world.remote == []  # the user was online already


async def test_account_deletion_forgets_what_is_kept_in_memory(world: World) -> None:
    alice = await world.online(f"{ALICE}/home")
    await world.route(f"<presence to='{JULIET}'/>", alice)
    await world.route("<presence type='unavailable'/>", alice)
    await world.route(f"<presence to='{JULIET}/x'/>", alice)
    world.take_remote()
    broadcaster = module(world).broadcaster
    assert len(broadcaster.directed) == 1 and "alice" in broadcaster._logouts
    await world.harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert "alice" not in broadcaster._logouts
    # The sessions are closed next (Host.delete_account): the directed presence they owe is still sent.
    await log_off(world, alice)
    assert world.take_remote() == [("unavailable", f"{ALICE}/home", f"{JULIET}/x")]
    assert len(broadcaster.directed) == 0


# -- blocking (XEP-0191 sections 3.3 and 3.4), with the blocking module's filters in place -----------------------

BLOCK = "<iq type='set' id='b1'><{0} xmlns='urn:xmpp:blocking'><item jid='{1}'/></{0}></iq>"


async def test_blocking_and_unblocking_a_contact() -> None:
    async with make_world(("presence", "blocking")) as world:
        await world.set_state(ALICE, BOB, "both")
        await world.set_state(BOB, ALICE, "both")
        await world.set_state(ALICE, JULIET, "from")
        bob = await world.online(f"{BOB}/work")
        alice = await world.online(f"{ALICE}/home")
        await world.route(f"<presence to='{CAROL}/desk'/>", alice)
        bob.take(), world.take_remote()
        await world.route(BLOCK.format("block", BOB), alice)
        await world.route(BLOCK.format("block", "remote.example"), alice)
        await world.route(BLOCK.format("block", CAROL), alice)
        # Section 3.3: unavailable presence to the newly blocked who could see Alice (the filter lets it pass).
        assert presences(bob.take()) == [("unavailable", f"{ALICE}/home", BOB)]
        assert world.take_remote() == [("unavailable", f"{ALICE}/home", JULIET)]
        assert len(module(world).broadcaster.directed) == 0  # Carol was told, and is forgotten
        await world.route("<presence><show>away</show></presence>", alice)
        assert bob.take() == [] and world.remote == []  # blocked: the broadcast stays away
        await world.route(BLOCK.format("unblock", BOB), alice)
        # Section 3.4: the current presence to the unblocked contact subscribed to Alice.
        (current,) = bob.take()
        assert presences([current]) == [(None, f"{ALICE}/home", BOB)] and current.child_text("show") == "away"
        assert world.remote == []


async def test_broadcast_carries_the_vcard_avatar_hash() -> None:
    """XEP-0153 through the presence module: the broadcast to a contact carries the hash of the stored photo."""
    async with make_world(("presence", "vcard")) as world:
        await world.set_state(ALICE, BOB, "from")
        await world.set_state(BOB, ALICE, "to")
        bob = await world.online(f"{BOB}/phone")
        photo = b"\x89PNG not really"
        alice = world.harness.bind(f"{ALICE}/desk", available=False)
        await world.route(
            "<iq type='set' id='v1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
            f"<BINVAL>{base64.b64encode(photo).decode()}</BINVAL></PHOTO></vCard></iq>",
            alice,
        )
        alice.take()
        bob.take()
        await world.route("<presence/>", alice)
        (seen,) = [p for p in bob.take() if p.name == "presence" and p.attrs.get("from") == f"{ALICE}/desk"]
        update = seen.find("x", "vcard-temp:x:update")
        assert (
            update is not None
            and update.child_text("photo", "vcard-temp:x:update") == hashlib.sha1(photo).hexdigest()
        )
