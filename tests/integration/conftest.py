"""Factory fixtures for integration tests: a real server on ephemeral ports, real slixmpp clients over TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import slixmpp

from xmppd.accounts import create_account
from xmppd.config import parse_config
from xmppd.server import Server

Client = slixmpp.ClientXMPP


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, never one this test run handed out before (the kernel may repeat one)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """Run the integration tests on the loop `xmppd serve` runs on: uvloop when installed, else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415 (optional: the `fast` extra)
    except ImportError:
        return {"asyncio": asyncio.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def make(**sections: dict[str, Any]) -> Server:
        raw: dict[str, Any] = {
            "server": {"data_dir": str(tmp_path / f"data{len(servers)}")},
            "c2s": {"port": free_port(), "direct_tls_port": free_port()},
            "auth": {"failure_delay": 0.0},
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        server = Server(parse_config(raw))
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    srv = await make_server()
    assert srv.storage is not None
    for name in ("alice", "bob"):
        await create_account(srv.storage, "localhost", name, "secret", 4096)
    return srv


class ClientFactory:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.clients: list[Client] = []

    def build(
        self, jid: str, password: str = "secret", *, direct_tls: bool = False, mechanism: str | None = None
    ) -> Client:
        client = Client(jid, password, sasl_mech=mechanism)
        client.enable_direct_tls = direct_tls
        client.enable_starttls = not direct_tls
        client.enable_plaintext = False
        context = ssl.create_default_context(cafile=str(self.server.config.certificate_path))
        client.ssl_context = context
        for plugin in ("xep_0030", "xep_0092", "xep_0199", "xep_0202"):
            client.register_plugin(plugin)
        self.clients.append(client)
        return client

    async def connect(self, client: Client, *, direct_tls: bool = False, timeout: float = 10.0) -> Client:
        """Connect and wait for session_start; raises AssertionError on failed auth or timeout."""
        listeners = self.server.listeners
        port = (listeners.c2s_direct_tls if direct_tls else listeners.c2s)[0][1]
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def done(outcome: str) -> Callable[[Any], None]:
            def handler(_event: Any) -> None:
                if not started.done():
                    started.set_result(outcome)

            return handler

        client.add_event_handler("session_start", done("started"))
        client.add_event_handler("failed_all_auth", done("failed"))
        client.add_event_handler("disconnected", done("disconnected"))
        client.connect("127.0.0.1", port)
        outcome = await asyncio.wait_for(started, timeout)
        if outcome != "started":
            raise AssertionError(f"login of {client.boundjid} {outcome}")
        return client

    async def login(
        self, jid: str, password: str = "secret", *, direct_tls: bool = False, mechanism: str | None = None
    ) -> Client:
        client = self.build(jid, password, direct_tls=direct_tls, mechanism=mechanism)
        return await self.connect(client, direct_tls=direct_tls)

    async def close(self) -> None:
        for client in self.clients:
            if client.transport is not None:
                client.disconnect(wait=0.5)
        await asyncio.sleep(0.1)


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory(server)
    yield factory
    await factory.close()
