"""The instant-messaging scenario end to end, with real slixmpp clients over TLS: subscription while offline,
presence both ways, offline messages in order with delay stamps, blocking and unblocking (RFC 6121, XEP-0160,
XEP-0203, XEP-0191)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.conftest import Client, ClientFactory
from tests.integration.test_presence import ALICE, BOB, Presences, manual


async def login(
    clients: ClientFactory, jid: str, *plugins: str
) -> tuple[Client, Presences, asyncio.Queue[Any]]:
    client = manual(clients.build(jid))
    for plugin in plugins:
        client.register_plugin(plugin)
    presences = Presences(client)
    messages: asyncio.Queue[Any] = asyncio.Queue()
    client.add_event_handler("message", messages.put_nowait)
    client.add_event_handler("message_error", messages.put_nowait)
    await clients.connect(client)
    await client.get_roster()
    client.send_presence()
    return client, presences, messages


async def logout(client: Client) -> None:
    disconnected = asyncio.get_running_loop().create_future()
    client.add_event_handler("disconnected", lambda _: disconnected.done() or disconnected.set_result(None))
    client.disconnect()
    await asyncio.wait_for(disconnected, 5)


async def nothing_arrives(queue: asyncio.Queue[Any], seconds: float = 0.5) -> None:
    try:
        stanza = await asyncio.wait_for(queue.get(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected {stanza}")


async def test_the_im_scenario(clients: ClientFactory) -> None:
    # Alice adds Bob while Bob is offline.
    alice, alice_saw, _ = await login(clients, f"{ALICE}/desk")
    alice.update_roster(BOB, name="Bob")
    alice.send_presence(pto=BOB, ptype="subscribe")
    await asyncio.sleep(0.3)

    # Bob logs in, receives the request and accepts it (and asks for Alice's presence in turn).
    bob, bob_saw, bob_inbox = await login(clients, f"{BOB}/phone", "xep_0191")
    request = await bob_saw.wait_for("subscribe", ALICE)
    assert request["to"].bare == BOB
    bob.send_presence(pto=ALICE, ptype="subscribed")
    bob.send_presence(pto=ALICE, ptype="subscribe")
    await alice_saw.wait_for("subscribed", BOB)
    await alice_saw.wait_for("subscribe", BOB)
    alice.send_presence(pto=BOB, ptype="subscribed")

    # Both see each other's presence.
    await alice_saw.wait_for("available", f"{BOB}/phone")
    await bob_saw.wait_for("available", f"{ALICE}/desk")
    for _ in range(50):
        if (
            alice.client_roster[BOB]["subscription"] == "both"
            and bob.client_roster[ALICE]["subscription"] == "both"
        ):
            break
        await asyncio.sleep(0.05)
    assert alice.client_roster[BOB]["subscription"] == "both"
    assert bob.client_roster[ALICE]["subscription"] == "both"

    # Alice logs off and Bob sees her go offline.
    await logout(alice)
    await bob_saw.wait_for("unavailable", f"{ALICE}/desk")

    # Bob sends her three messages; she logs in and gets them in order, each with a delay stamp.
    for n in range(1, 4):
        bob.send_message(mto=ALICE, mbody=f"message {n}", mtype="chat")
    await asyncio.sleep(0.3)
    alice, alice_saw, alice_inbox = await login(clients, f"{ALICE}/desk", "xep_0203")
    received = [await asyncio.wait_for(alice_inbox.get(), 5) for _ in range(3)]
    assert [m["body"] for m in received] == ["message 1", "message 2", "message 3"]
    stamps = [m["delay"]["stamp"] for m in received]
    assert all(stamp is not None for stamp in stamps) and stamps == sorted(stamps)
    assert all(m["delay"]["from"] == "localhost" for m in received)

    # Bob blocks Alice: her next message is refused as XEP-0191 says, and Bob receives nothing.
    await bob.plugin["xep_0191"].block(ALICE)
    alice.send_message(mto=BOB, mbody="are you there?", mtype="chat")
    refused = await asyncio.wait_for(alice_inbox.get(), 5)
    assert refused["type"] == "error" and refused["error"]["condition"] == "service-unavailable"
    await nothing_arrives(bob_inbox)

    # Bob unblocks her, and the next one arrives.
    await bob.plugin["xep_0191"].unblock(ALICE)
    alice.send_message(mto=BOB, mbody="hello again", mtype="chat")
    message = await asyncio.wait_for(bob_inbox.get(), 5)
    assert message["body"] == "hello again" and message["from"].bare == ALICE
