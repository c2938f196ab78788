"""RFC 6121 section 2 with real slixmpp clients: pushes to another resource, removal, versioning, errors."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError

from tests.integration.conftest import Client, ClientFactory
from xmppd.modules.roster import Roster
from xmppd.server import Server
from xmppd.storage.roster import RosterItem


def queue_of(client: Client, event: str) -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    client.add_event_handler(event, queue.put_nowait)
    return queue


async def round_trip(client: Client) -> None:
    """A ping to the server: whatever the server queued for the client before has arrived once it returns."""
    await client.plugin["xep_0199"].send_ping("localhost", timeout=5)


def is_empty(result: Any) -> bool:
    """An empty roster result (section 2.6.3). slixmpp's own handler of the result adds an empty <query/> to it
    when it reads it, so: no version and no items."""
    return result["type"] == "result" and not result["roster"]["ver"] and not result["roster"]["items"]


def roster_module(server: Server) -> Roster:
    return cast(Roster, server.hosts["localhost"].modules["roster"])


async def test_a_change_from_one_resource_is_pushed_to_the_other(clients: ClientFactory) -> None:
    desk = await clients.login("alice@localhost/desk")
    phone = await clients.login("alice@localhost/phone")
    assert "rosterver" in desk.features  # RFC 6121 section 2.6.1: the stream feature is offered
    for client in (desk, phone):
        await client.get_roster(timeout=5)  # both become interested resources (section 2.2)
    pushes = queue_of(phone, "roster_update")

    await desk.update_roster(JID("bob@localhost"), name="Bob", groups=["Friends", "Chess"], timeout=5)
    push = await asyncio.wait_for(pushes.get(), 5)
    assert push["type"] == "set" and push["from"] == JID("alice@localhost")
    item = phone.client_roster["bob@localhost"]
    assert item["name"] == "Bob" and sorted(item["groups"]) == ["Chess", "Friends"]
    assert item["subscription"] == "none"
    assert phone.client_roster.version == "1"

    await desk.update_roster(JID("bob@localhost"), name="Robert", groups=[], timeout=5)
    await asyncio.wait_for(pushes.get(), 5)
    assert phone.client_roster["bob@localhost"]["name"] == "Robert"
    assert phone.client_roster["bob@localhost"]["groups"] == []

    await desk.del_roster_item("bob@localhost")
    await asyncio.wait_for(pushes.get(), 5)
    assert not phone.client_roster.has_jid("bob@localhost")
    assert phone.client_roster.version == "3"


async def test_removal_unsubscribes_both_ways(server: Server, clients: ClientFactory) -> None:
    roster = roster_module(server)
    await roster.save_item("alice", RosterItem("bob@localhost", subscription="both"))
    await roster.save_item("bob", RosterItem("alice@localhost", subscription="both"))
    alice = await clients.login("alice@localhost/a")
    bob = await clients.login("bob@localhost/b")
    # The presence module delivers these to bob's interested resources (RFC 6121 sections 3.2.3 and 3.3.3).
    await bob.get_roster(timeout=5)
    bob.send_presence()
    await round_trip(bob)
    unsubscribe = queue_of(bob, "presence_unsubscribe")
    unsubscribed = queue_of(bob, "presence_unsubscribed")

    iq = alice.Iq(stype="set")
    iq["roster"]["items"] = {"bob@localhost": {"subscription": "remove"}}
    await iq.send(timeout=5)
    # RFC 6121 section 2.5.2: from alice's bare JID, as if she had sent them.
    for queue in (unsubscribe, unsubscribed):
        presence = await asyncio.wait_for(queue.get(), 5)
        assert presence["from"] == JID("alice@localhost")
    assert await roster.get_item("alice", "bob@localhost") is None

    iq = alice.Iq(stype="set")
    iq["roster"]["items"] = {"bob@localhost": {"subscription": "remove"}}
    with pytest.raises(IqError) as raised:
        await iq.send(timeout=5)
    assert raised.value.iq["error"]["condition"] == "item-not-found"  # section 2.5.3


async def test_versioned_roster_get(clients: ClientFactory) -> None:
    editor = await clients.login("alice@localhost/editor")
    await editor.get_roster(timeout=5)
    for contact in ("bob@localhost", "carol@example.net", "dave@example.net"):
        await editor.update_roster(JID(contact), name=contact.partition("@")[0], timeout=5)  # versions 1-3
    await editor.del_roster_item("carol@example.net")  # version 4

    # A client that cached version 1: an empty result, then the changes since as pushes (section 2.6.3).
    behind = await clients.login("alice@localhost/behind")
    pushes = queue_of(behind, "roster_update")
    behind.client_roster.version = "1"
    result = await behind.get_roster(timeout=5)
    assert is_empty(result)
    versions: list[str] = []
    while len(versions) < 2:
        update = await asyncio.wait_for(pushes.get(), 5)
        if update["type"] == "set":
            versions.append(update["roster"]["ver"])
    assert versions == ["3", "4"]
    assert behind.client_roster.version == "4"
    assert behind.client_roster.has_jid("dave@example.net")
    assert not behind.client_roster.has_jid("carol@example.net")

    # A client with the current version: an empty result and nothing more; with a version the server never
    # issued: the whole roster.
    current = await clients.login("alice@localhost/current")
    current_pushes = queue_of(current, "roster_update")
    current.client_roster.version = "4"
    result = await current.get_roster(timeout=5)
    assert is_empty(result)
    stranger = await clients.login("alice@localhost/stranger")
    stranger_pushes = queue_of(stranger, "roster_update")
    stranger.client_roster.version = "not-ours"
    result = await stranger.get_roster(timeout=5)
    assert result["roster"]["ver"] == "4"
    assert sorted(str(jid) for jid in result["roster"]["items"]) == ["bob@localhost", "dave@example.net"]

    # Every one of them is interested now: the next change reaches them all, and it is the first push the
    # last two get.
    await editor.update_roster(JID("erin@example.net"), timeout=5)
    for queue in (pushes, current_pushes, stranger_pushes):
        update = await asyncio.wait_for(queue.get(), 5)
        while update["type"] == "result":  # slixmpp reports the get's own result as a roster update too
            update = await asyncio.wait_for(queue.get(), 5)
        assert update["type"] == "set" and update["roster"]["ver"] == "5"


async def test_another_accounts_roster_is_forbidden(clients: ClientFactory) -> None:
    alice = await clients.login("alice@localhost/a")
    for iq_type in ("get", "set"):
        iq = alice.Iq(stype=iq_type, sto="bob@localhost")
        if iq_type == "set":
            iq["roster"]["items"] = {"carol@localhost": {"name": "Carol"}}
        else:
            iq.enable("roster")
        with pytest.raises(IqError) as raised:
            await iq.send(timeout=5)
        assert raised.value.iq["error"]["condition"] == "forbidden"


async def test_a_deleted_account_unsubscribes_its_contacts(server: Server, clients: ClientFactory) -> None:
    roster = roster_module(server)
    await roster.save_item("alice", RosterItem("bob@localhost", subscription="both"))
    await roster.save_item("bob", RosterItem("alice@localhost", subscription="both"))
    bob = await clients.login("bob@localhost/b")
    await bob.get_roster(timeout=5)
    bob.send_presence()
    await round_trip(bob)
    unsubscribe = queue_of(bob, "presence_unsubscribe")
    unsubscribed = queue_of(bob, "presence_unsubscribed")

    assert await server.hosts["localhost"].delete_account("alice")
    for queue in (unsubscribe, unsubscribed):
        presence = await asyncio.wait_for(queue.get(), 5)
        assert presence["from"] == JID("alice@localhost")
    assert await roster.items("alice") == ()
