"""XEP-0160 with real slixmpp clients: messages to an offline user arrive, in order and stamped, at presence.

The server stores on SQLite (the embedded default), so the messages also survive a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import slixmpp

from tests.integration.conftest import Client, ClientFactory
from xmppd.accounts import create_account
from xmppd.server import Server

BODIES = ("first", "second", "third")


async def login(clients: ClientFactory, jid: str) -> Client:
    client = clients.build(jid)
    client.register_plugin("xep_0203")
    return await clients.connect(client)


async def wait_stored(server: Server, count: int) -> None:
    assert server.storage is not None
    for _ in range(500):
        if await server.storage.offline.count("localhost", "alice") == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} stored messages")


async def send_while_alice_is_offline(server: Server, clients: ClientFactory) -> dt.datetime:
    """Bob sends the three messages; returns a time just before he did."""
    bob = await login(clients, "bob@localhost/b")
    errors: list[Any] = []
    bob.add_event_handler("message_error", errors.append)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for body in BODIES:
        bob.send_message(mto=slixmpp.JID("alice@localhost"), mbody=body, mtype="chat")
    await wait_stored(server, len(BODIES))
    assert errors == []  # stored, not refused
    return before


async def receive_at_presence(clients: ClientFactory) -> list[Any]:
    """Alice logs in (nothing yet: XEP-0160 waits for presence), sends presence, and gets the messages."""
    alice = await login(clients, "alice@localhost/a")
    received: list[Any] = []
    alice.add_event_handler("message", received.append)
    await asyncio.sleep(0.2)
    assert received == []
    alice.send_presence()
    for _ in range(500):
        if len(received) >= len(BODIES):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # and nothing more arrives
    return received


def check(received: list[Any], before: dt.datetime) -> None:
    assert [msg["body"] for msg in received] == list(BODIES)
    stamps = []
    for msg in received:
        assert str(msg["from"]) == "bob@localhost/b" and msg["type"] == "chat"
        delay = msg["delay"]
        assert str(delay["from"]) == "localhost" and delay["text"] == "Offline Storage"
        stamp = delay["stamp"]
        assert stamp.utcoffset() == dt.timedelta(0)
        assert before <= stamp <= dt.datetime.now(dt.UTC)
        stamps.append(stamp)
    assert stamps == sorted(stamps)


async def test_messages_arrive_in_order_with_delay_stamps(server: Server, clients: ClientFactory) -> None:
    before = await send_while_alice_is_offline(server, clients)
    check(await receive_at_presence(clients), before)
    await wait_stored(server, 0)


async def test_messages_survive_a_restart(make_server: Callable[..., Awaitable[Server]]) -> None:
    first = await make_server()
    assert first.storage is not None
    for name in ("alice", "bob"):
        await create_account(first.storage, "localhost", name, "secret", 4096)
    senders = ClientFactory(first)
    try:
        before = await send_while_alice_is_offline(first, senders)
    finally:
        await senders.close()
    await first.stop()

    # Another server on the same data directory (and so the same SQLite database).
    second = await make_server(server={"data_dir": str(first.config.data_dir)})
    await wait_stored(second, len(BODIES))
    receivers = ClientFactory(second)
    try:
        check(await receive_at_presence(receivers), before)
    finally:
        await receivers.close()
    await wait_stored(second, 0)
