"""XEP-0012 with real slixmpp clients: uptime, online users, logouts with their status, unauthorized askers."""

from __future__ import annotations

import asyncio

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from tests.integration.conftest import Client, ClientFactory
from xmppd import hooks
from xmppd.server import Server


async def login(clients: ClientFactory, jid: str) -> Client:
    client = clients.build(jid)
    client.register_plugin("xep_0012")
    return await clients.connect(client)


async def wait_for_logout(server: Server, username: str, previous: bytes | None = None) -> bytes:
    assert server.storage is not None
    for _ in range(500):
        stored = await server.storage.keyval.get("localhost", username, "last", "logout")
        if stored is not None and stored != previous:
            return stored
        await asyncio.sleep(0.01)
    raise AssertionError("no logout recorded")


def let_bob_see_alice(server: Server) -> None:
    """Stand in for the roster: bob is subscribed to alice's presence."""

    async def answer(question: hooks.SubscriptionQuery, subscribed: bool) -> bool:
        return subscribed or (question.username, question.contact) == ("alice", "bob@localhost")

    server.hosts["localhost"].hooks.add(hooks.SUBSCRIPTION_QUERY, answer)


async def test_server_uptime_and_own_account(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    uptime = await alice.plugin["xep_0012"].get_last_activity(slixmpp.JID("localhost"))
    assert uptime["last_activity"]["seconds"] >= 0
    alice.send_presence()
    await asyncio.sleep(0.1)
    own = await alice.plugin["xep_0012"].get_last_activity(slixmpp.JID("alice@localhost"))
    assert own["last_activity"]["seconds"] == 0


async def test_unsubscribed_contact_is_forbidden(clients: ClientFactory) -> None:
    await login(clients, "alice@localhost/a")
    bob = await login(clients, "bob@localhost/b")
    # At the bare JID (section 3) and at a full JID, where the server stops the query (section 8).
    for jid in ("alice@localhost", "alice@localhost/a"):
        with pytest.raises(IqError) as info:
            await bob.plugin["xep_0012"].get_last_activity(slixmpp.JID(jid))
        assert info.value.iq["error"]["condition"] == "forbidden"
        assert str(info.value.iq["from"]) == jid


async def test_subscribed_contact_reaches_the_client(server: Server, clients: ClientFactory) -> None:
    let_bob_see_alice(server)
    alice = await login(clients, "alice@localhost/a")
    await alice.plugin["xep_0012"].set_last_activity(alice.boundjid, seconds=42, status="reading")
    bob = await login(clients, "bob@localhost/b")
    idle = await bob.plugin["xep_0012"].get_last_activity(slixmpp.JID("alice@localhost/a"))
    assert str(idle["from"]) == "alice@localhost/a"
    assert idle["last_activity"]["seconds"] >= 42


async def test_subscribed_contact_sees_logouts(server: Server, clients: ClientFactory) -> None:
    let_bob_see_alice(server)
    bob = await login(clients, "bob@localhost/b")
    alice = await login(clients, "alice@localhost/a")
    alice.send_presence()
    await asyncio.sleep(0.1)
    online = await bob.plugin["xep_0012"].get_last_activity(slixmpp.JID("alice@localhost"))
    assert online["last_activity"]["seconds"] == 0
    # Unavailable presence with a status (XEP-0012 section 3's "Heading Home").
    alice.send_presence(ptype="unavailable", pstatus="Heading Home")
    first = await wait_for_logout(server, "alice")
    answer = await bob.plugin["xep_0012"].get_last_activity(slixmpp.JID("alice@localhost"))
    assert 0 <= answer["last_activity"]["seconds"] <= 5
    assert answer["last_activity"]["status"] == "Heading Home"
    # A session that ends while available: the server broadcasts unavailable for it, and that is a logout too.
    alice.send_presence()
    await asyncio.sleep(0.1)
    alice.disconnect()
    await wait_for_logout(server, "alice", previous=first)
    answer = await bob.plugin["xep_0012"].get_last_activity(slixmpp.JID("alice@localhost"))
    assert answer["last_activity"]["status"] in ("", None)
