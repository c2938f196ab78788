"""RFC 6121 sections 3 and 4 with real slixmpp clients: subscriptions across logins, presence both ways, a
user's own resources, directed presence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.integration.conftest import Client, ClientFactory

ALICE = "alice@localhost"
BOB = "bob@localhost"
SUBSCRIPTION_TYPES = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")


class Presences:
    """Every presence a client receives, and a way to wait for one (whenever it came: order is not promised)."""

    def __init__(self, client: Client) -> None:
        self.received: list[Any] = []
        self._arrived = asyncio.Event()
        client.add_event_handler("presence", self._add)

    def _add(self, presence: Any) -> None:
        self.received.append(presence)
        self._arrived.set()

    async def wait(self, what: str, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        """The first presence received that matches ``predicate``, which is then forgotten."""

        async def find() -> Any:
            while True:
                for index, presence in enumerate(self.received):
                    if predicate(presence):
                        return self.received.pop(index)
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s") from None

    async def wait_for(self, kind: str, sender: str, timeout: float = 5.0) -> Any:
        """A presence of ``kind`` ("available", "unavailable" or a subscription type) from ``sender``."""

        def matches(presence: Any) -> bool:
            presence_type = presence["type"]
            if kind == "available":
                is_kind = presence_type not in ("unavailable", "error", "probe", *SUBSCRIPTION_TYPES)
            else:
                is_kind = presence_type == kind
            return bool(is_kind) and str(presence["from"]) == sender

        return await self.wait(f"{kind} presence from {sender}", matches, timeout)


def manual(client: Client) -> Client:
    """No automatic answers to subscription requests: the test answers them."""
    client.auto_authorize = None
    client.auto_subscribe = False
    return client


async def login(clients: ClientFactory, jid: str) -> tuple[Client, Presences]:
    """Connect with a presence recorder in place, get the roster and send initial presence."""
    client = manual(clients.build(jid))
    recorded = Presences(client)
    await clients.connect(client)
    await client.get_roster()
    client.send_presence()
    return client, recorded


async def test_subscription_while_offline_then_presence_both_ways(clients: ClientFactory) -> None:
    alice, alice_saw = await login(clients, f"{ALICE}/desk")
    alice.send_presence(pto=BOB, ptype="subscribe")
    # Section 3.1.2: Alice's roster says she is waiting for Bob.
    for _ in range(50):
        if alice.client_roster[BOB]["pending_out"]:
            break
        await asyncio.sleep(0.05)
    assert alice.client_roster[BOB]["pending_out"]

    # Bob logs in later: the request waited for him (section 3.1.3), and he accepts.
    bob, bob_saw = await login(clients, f"{BOB}/laptop")
    await bob_saw.wait_for("subscribe", ALICE)
    bob.send_presence(pto=ALICE, ptype="subscribed")
    await alice_saw.wait_for("subscribed", BOB)
    # Section 3.1.5: Bob's server sends his presence to Alice along with the approval.
    await alice_saw.wait_for("available", f"{BOB}/laptop")

    # And the other way round, while both are online.
    bob.send_presence(pto=ALICE, ptype="subscribe")
    await alice_saw.wait_for("subscribe", BOB)
    alice.send_presence(pto=BOB, ptype="subscribed")
    await bob_saw.wait_for("subscribed", ALICE)
    await bob_saw.wait_for("available", f"{ALICE}/desk")
    for _ in range(50):
        if alice.client_roster[BOB]["subscription"] == "both":
            break
        await asyncio.sleep(0.05)
    assert alice.client_roster[BOB]["subscription"] == "both"

    # Each sees the other's presence changes (section 4.4.2).
    alice.send_presence(pshow="away", pstatus="lunch")
    away = await bob_saw.wait_for("available", f"{ALICE}/desk")
    assert away["show"] == "away" and away["status"] == "lunch"
    bob.send_presence(pshow="dnd")
    assert (await alice_saw.wait_for("available", f"{BOB}/laptop"))["show"] == "dnd"

    # Alice logs off: Bob sees her go (section 4.5.1).
    alice.disconnect()
    await bob_saw.wait_for("unavailable", f"{ALICE}/desk")
    bob_saw.received.clear()

    # Alice comes back: her server probes Bob for her (section 4.2.2), Bob sees her again.
    _, alice_saw = await login(clients, f"{ALICE}/desk")
    await alice_saw.wait_for("available", f"{BOB}/laptop")
    await bob_saw.wait_for("available", f"{ALICE}/desk")


async def test_a_users_resources_see_each_other(clients: ClientFactory) -> None:
    _, desk_saw = await login(clients, f"{ALICE}/desk")
    phone, phone_saw = await login(clients, f"{ALICE}/phone")
    await desk_saw.wait_for("available", f"{ALICE}/phone")
    await phone_saw.wait_for("available", f"{ALICE}/desk")
    await phone_saw.wait_for("available", f"{ALICE}/phone")  # implicitly subscribed to itself
    phone.disconnect()
    await desk_saw.wait_for("unavailable", f"{ALICE}/phone")


async def test_directed_presence_is_cancelled_at_log_off(clients: ClientFactory) -> None:
    _, bob_saw = await login(clients, f"{BOB}/laptop")
    # Alice is nothing to Bob: no subscription either way. She shows herself to him anyway (section 4.6).
    alice, _ = await login(clients, f"{ALICE}/desk")
    alice.send_presence(pto=f"{BOB}/laptop", pstatus="just for you")
    shown = await bob_saw.wait_for("available", f"{ALICE}/desk")
    assert shown["status"] == "just for you"
    alice.disconnect()
    await bob_saw.wait_for("unavailable", f"{ALICE}/desk")


async def test_directed_presence_of_a_session_that_never_broadcast(clients: ClientFactory) -> None:
    _, bob_saw = await login(clients, f"{BOB}/laptop")
    alice = manual(clients.build(f"{ALICE}/muc-only"))
    await clients.connect(alice)
    alice.send_presence(pto=f"{BOB}/laptop")
    await bob_saw.wait_for("available", f"{ALICE}/muc-only")
    alice.disconnect()
    await bob_saw.wait_for("unavailable", f"{ALICE}/muc-only")
