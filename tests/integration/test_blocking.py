"""XEP-0191 with real slixmpp clients: block, pushes to another resource, both directions refused, unblock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError

from tests.integration.conftest import Client, ClientFactory

NS_BLOCKING = "urn:xmpp:blocking"


async def login_with_blocking(clients: ClientFactory, jid: str) -> Client:
    client = clients.build(jid)
    client.register_plugin("xep_0191")
    return await clients.connect(client)


def queue_of(client: Client, event: str) -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(stanza: Any) -> None:
        # "message" is any message with a body: an error reply carrying the original body is not a delivery.
        if event != "message" or stanza["type"] != "error":
            queue.put_nowait(stanza)

    client.add_event_handler(event, put)
    return queue


async def round_trip(client: Client) -> None:
    """A ping to the server: whatever the server queued for the client before has arrived once it returns."""
    await client.plugin["xep_0199"].send_ping("localhost", timeout=5)


async def test_block_push_refuse_and_unblock(clients: ClientFactory) -> None:
    alice = await login_with_blocking(clients, "alice@localhost/a")
    other = await login_with_blocking(clients, "alice@localhost/b")
    bob = await clients.login("bob@localhost/b")
    for client in (alice, other, bob):
        client.send_presence()

    info = await alice.plugin["xep_0030"].get_info(jid="localhost", timeout=5)
    assert NS_BLOCKING in info["disco_info"]["features"]
    # Both resources ask for the list, so both get the pushes (XEP-0191 section 3.2).
    for client in (alice, other):
        assert await client.plugin["xep_0191"].get_blocked_jids(timeout=5) == set()

    blocked_pushes = queue_of(other, "blocked")
    unblocked_pushes = queue_of(other, "unblocked")
    alice_messages = queue_of(alice, "message")
    alice_errors = queue_of(alice, "message_error")
    bob_messages = queue_of(bob, "message")
    bob_errors = queue_of(bob, "message_error")

    await alice.plugin["xep_0191"].block(JID("bob@localhost"), timeout=5)
    push = await asyncio.wait_for(blocked_pushes.get(), 5)
    assert [item["jid"] for item in push["block"]["items"]] == [JID("bob@localhost")]
    assert await other.plugin["xep_0191"].get_blocked_jids(timeout=5) == {JID("bob@localhost")}

    # From the blocked JID: refused with service-unavailable, and not delivered (section 3.3).
    bob.send_message(mto="alice@localhost", mbody="can you hear me?", mtype="chat")
    error = await asyncio.wait_for(bob_errors.get(), 5)
    assert error["error"]["condition"] == "service-unavailable"
    with pytest.raises(IqError) as raised:
        await bob.plugin["xep_0199"].send_ping("alice@localhost/a", timeout=5)
    assert raised.value.iq["error"]["condition"] == "service-unavailable"
    await round_trip(alice)
    assert alice_messages.empty()

    # To the blocked JID: not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/>, and not delivered.
    alice.send_message(mto="bob@localhost", mbody="never mind", mtype="chat")
    error = await asyncio.wait_for(alice_errors.get(), 5)
    assert error["error"]["condition"] == "not-acceptable" and error["error"]["type"] == "cancel"
    assert error.xml.find("{jabber:client}error/{urn:xmpp:blocking:errors}blocked") is not None
    assert error["from"] == JID("bob@localhost")
    await round_trip(bob)
    assert bob_messages.empty()

    # Unblock: the push, then bob's next message arrives.
    await alice.plugin["xep_0191"].unblock(JID("bob@localhost"), timeout=5)
    push = await asyncio.wait_for(unblocked_pushes.get(), 5)
    assert [item["jid"] for item in push["unblock"]["items"]] == [JID("bob@localhost")]
    bob.send_message(mto="alice@localhost/a", mbody="hello again", mtype="chat")
    message = await asyncio.wait_for(alice_messages.get(), 5)
    assert message["body"] == "hello again" and message["from"] == JID("bob@localhost/b")
    assert bob_errors.empty()
    assert await alice.plugin["xep_0191"].get_blocked_jids(timeout=5) == set()
