"""Idle sessions: their streams hibernate (the parser is freed) and wake on the next bytes, unnoticed by clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.conftest import ClientFactory
from xmppd import session as session_module
from xmppd.accounts import create_account
from xmppd.server import Server
from xmppd.session import ClientSession


def parser_alive(session: ClientSession) -> bool:
    return session.stream._parser._parser is not None


async def quiet_sessions(server: Server, count: int, timeout: float = 5.0) -> list[ClientSession]:
    """Wait until ``count`` sessions are bound and all of their streams sleep."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        bound = [s for s in server.clients if s.bound]
        if len(bound) == count and not any(parser_alive(s) for s in bound):
            return bound
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"sessions still awake: {[s for s in bound if parser_alive(s)]}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def sleepy_server(
    make_server: Callable[..., Awaitable[Server]], monkeypatch: pytest.MonkeyPatch
) -> Server:
    monkeypatch.setattr(session_module, "HIBERNATE_AFTER", 0.1)
    server = await make_server()
    assert server.storage is not None
    for name in ("alice", "bob"):
        await create_account(server.storage, "localhost", name, "secret", 4096)
    return server


async def test_quiet_sessions_sleep_and_wake_on_their_next_stanza(sleepy_server: Server) -> None:
    clients = ClientFactory(sleepy_server)
    try:
        alice = await clients.login("alice@localhost/a")
        bob = await clients.login("bob@localhost/b")
        received: asyncio.Queue[Any] = asyncio.Queue()
        bob.add_event_handler("message", received.put_nowait)
        alice.send_presence()
        bob.send_presence()
        await quiet_sessions(sleepy_server, 2)
        # Both asleep: a message from one wakes its stream, and reaches the other (asleep: output needs no parser).
        alice.send_message(mto="bob@localhost/b", mbody="wake up", mtype="chat")
        message = await asyncio.wait_for(received.get(), 5)
        assert message["body"] == "wake up" and str(message["from"]) == "alice@localhost/a"
        # And a request/answer after sleeping again.
        await quiet_sessions(sleepy_server, 2)
        version = await asyncio.wait_for(bob.plugin["xep_0092"].get_version("localhost"), 5)
        assert version["software_version"]["name"] == "xmppd"
        await quiet_sessions(sleepy_server, 2)
    finally:
        await clients.close()
    # The closing tags of sleeping streams were parsed: every session ended.
    for _ in range(100):
        if not sleepy_server.clients:
            break
        await asyncio.sleep(0.05)
    assert not sleepy_server.clients


async def test_a_session_busy_with_storage_is_not_put_to_sleep(sleepy_server: Server) -> None:
    clients = ClientFactory(sleepy_server)
    try:
        await clients.login("alice@localhost/a")
        (session,) = await quiet_sessions(sleepy_server, 1)
        session.data_received(b" ")  # a white space keepalive wakes its stream
        assert parser_alive(session)
        session._busy = True  # as while a storage lookup is under way: not now, ask again later
        assert not session.hibernate()
        assert parser_alive(session)
        session._busy = False
        await quiet_sessions(sleepy_server, 1)
    finally:
        await clients.close()
