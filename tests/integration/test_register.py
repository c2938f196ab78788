"""XEP-0077 in-band registration with slixmpp's xep_0077 against the real server, over TLS."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from slixmpp.exceptions import IqError

from tests.integration.conftest import Client, ClientFactory
from xmppd.accounts import create_account
from xmppd.server import Server
from xmppd.storage.roster import RosterItem

REGISTER_FEATURE = b"<register xmlns='http://jabber.org/features/iq-register'/>"
STREAM_HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0'"
    b" xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)


@pytest.fixture
async def open_server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    server = await make_server(modules={"register": {"allow_registration": True}})
    assert server.storage is not None
    await create_account(server.storage, "localhost", "alice", "secret", 4096)
    return server


@pytest.fixture
async def open_clients(open_server: Server) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory(open_server)
    yield factory
    await factory.close()


def registering(factory: ClientFactory, jid: str, password: str) -> tuple[Client, list[str]]:
    """A client that registers ``jid`` in-band when the server offers it, then logs in with it.

    Returns the client and the list that collects the stanza error conditions registration met.
    """
    client = factory.build(jid, password)
    client.register_plugin("xep_0077")
    errors: list[str] = []

    async def register(_form: Any) -> None:
        request = client.Iq()
        request["type"] = "set"
        request["register"]["username"] = client.boundjid.user
        request["register"]["password"] = password
        try:
            await request.send(timeout=10)
        except IqError as error:
            errors.append(error.iq["error"]["condition"])

    client.add_event_handler("register", register)
    return client, errors


def stream_errors(client: Client) -> asyncio.Queue[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    client.add_event_handler("stream_error", lambda error: queue.put_nowait(error["condition"]))
    return queue


async def test_register_then_log_in(open_server: Server, open_clients: ClientFactory) -> None:
    client, errors = registering(open_clients, "carol@localhost/desk", "carol's secret")
    await open_clients.connect(client)
    assert errors == []
    assert str(client.boundjid) == "carol@localhost/desk"
    assert open_server.storage is not None
    assert await open_server.storage.accounts.list("localhost") == ["alice", "carol"]
    # The new account works like any other: a fresh login with its password.
    again = await open_clients.login("carol@localhost/phone", "carol's secret", mechanism="SCRAM-SHA-256")
    assert again.boundjid.bare == "carol@localhost"


async def test_registering_a_taken_name_is_a_conflict(open_clients: ClientFactory) -> None:
    client, errors = registering(open_clients, "alice@localhost/x", "not alice's password")
    with pytest.raises(AssertionError, match=r"failed|disconnected"):
        await open_clients.connect(client)
    assert errors == ["conflict"]


async def test_registration_closed_by_default(clients: ClientFactory) -> None:
    client, errors = registering(clients, "carol@localhost/desk", "secret")
    with pytest.raises(AssertionError, match=r"failed|disconnected"):
        await clients.connect(client)
    assert errors == []  # never offered, never tried
    assert await clients.server.storage.accounts.get("localhost", "carol") is None  # type: ignore[union-attr]


async def test_registration_iq_where_closed_is_not_authorized(clients: ClientFactory) -> None:
    """Without the stream feature, a registration IQ before authentication is a stream error (RFC 6120
    section 4.9.3.12), whatever the client hoped."""
    server = clients.server
    context = ssl.create_default_context(cafile=str(server.config.certificate_path))
    port = server.listeners.c2s_direct_tls[0][1]
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(STREAM_HEADER)
        features = await _read_until(reader, b"</stream:features>")
        assert REGISTER_FEATURE not in features
        writer.write(b"<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>")
        closing = await _read_until(reader, b"</stream:stream>")
        assert b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in closing
    finally:
        writer.close()


async def test_feature_offered_where_open(open_server: Server) -> None:
    context = ssl.create_default_context(cafile=str(open_server.config.certificate_path))
    port = open_server.listeners.c2s_direct_tls[0][1]
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(STREAM_HEADER)
        assert REGISTER_FEATURE in await _read_until(reader, b"</stream:features>")
    finally:
        writer.close()


async def test_password_change_then_log_in_with_the_new_one(clients: ClientFactory) -> None:
    alice = await clients.login("alice@localhost/a")
    alice.register_plugin("xep_0077")
    await alice.plugin["xep_0077"].change_password("a new secret", timeout=10)
    await clients.login("alice@localhost/b", "a new secret")
    with pytest.raises(AssertionError, match=r"failed|disconnected"):
        await clients.login("alice@localhost/c", "secret")


async def test_account_removal_closes_the_session_and_the_login_fails(clients: ClientFactory) -> None:
    server = clients.server
    assert server.storage is not None
    roster = server.storage.roster
    await roster.put_item("localhost", "alice", RosterItem("bob@localhost", subscription="both"))
    await roster.put_item("localhost", "bob", RosterItem("alice@localhost", subscription="both"))
    alice = await clients.login("alice@localhost/a")
    unsubscribed: asyncio.Queue[Any] = asyncio.Queue()
    alice.add_event_handler("presence_unsubscribed", unsubscribed.put_nowait)
    await alice.get_roster(timeout=5)
    alice.send_presence()
    bob = await clients.login("bob@localhost/b")
    bob.register_plugin("xep_0077")
    errors = stream_errors(bob)
    started = time.monotonic()
    await bob.plugin["xep_0077"].cancel_registration(timeout=10)  # the result comes first (section 3.2)
    assert await asyncio.wait_for(errors.get(), 10) == "not-authorized"
    # Bob's contacts see him unsubscribe and refuse: the roster module's work on ACCOUNT_DELETED.
    presence = await asyncio.wait_for(unsubscribed.get(), 10)
    assert presence["from"].bare == "bob@localhost"
    assert time.monotonic() - started < 5
    for _ in range(50):
        if await server.storage.accounts.get("localhost", "bob") is None:
            break
        await asyncio.sleep(0.1)
    assert await server.storage.accounts.list("localhost") == ["alice"]
    item = await roster.get_item("localhost", "alice", "bob@localhost")
    assert item is not None and item.subscription == "none"
    with pytest.raises(AssertionError, match=r"failed|disconnected"):
        await clients.login("bob@localhost/b2")


async def _read_until(reader: asyncio.StreamReader, marker: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while marker not in data:
            chunk = await reader.read(65536)
            assert chunk, f"connection closed before {marker!r}; got {data!r}"
            data += chunk
    return data
