"""A router and a host with in-memory storage and fake sessions: module and routing tests without sockets.

In the spirit of slixmpp's SlixTest: ``harness.route(xml, origin)`` then look at what each session received.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.helpers.xml import parse
from xmppd.errors import StreamError
from xmppd.host import Host
from xmppd.jid import JID
from xmppd.modules import loader
from xmppd.routing.router import Router
from xmppd.routing.sessions import SessionTable
from xmppd.storage import Storage, open_storage
from xmppd.xml.element import Element


class FakeSession:
    """A bound session that records what it is delivered."""

    def __init__(self, jid: JID, priority: int = 0, available: bool = True) -> None:
        self.jid = jid
        self.priority = priority
        self.available = available
        self.presence: Element | None = None
        self.interested = False
        self.received: list[Element] = []
        self.closed_with: list[StreamError | None] = []
        self.last_activity = time.monotonic()

    def deliver(self, stanza: Element) -> None:
        self.received.append(stanza)

    def close(self, error: StreamError | None = None) -> None:
        self.closed_with.append(error)

    def take(self) -> list[Element]:
        items, self.received = self.received, []
        return items


class Harness:
    def __init__(self, storage: Storage, host_names: Sequence[str] = ("localhost",)) -> None:
        self.storage = storage
        self.sessions = SessionTable()
        self.hosts: dict[str, Host] = {}
        self.router = Router(self.hosts, self.sessions)
        for name in host_names:
            self.hosts[name] = Host(name, storage, self.router, self.sessions, "xmppd test")

    @classmethod
    async def create(cls, modules: Sequence[str] = (), configs: dict[str, Any] | None = None) -> Harness:
        harness = cls(await open_storage("memory://"))
        for host in harness.hosts.values():
            await loader.load(host, modules, configs or {})
        return harness

    @property
    def host(self) -> Host:
        return self.hosts["localhost"]

    async def add_account(self, username: str, host: str = "localhost") -> None:
        await self.storage.accounts.create(host, username, ())

    def bind(self, jid: str, priority: int = 0, available: bool = True) -> FakeSession:
        session = FakeSession(JID.parse(jid), priority, available)
        self.sessions.bind(session)
        return session

    async def route(self, xml: str | Element, origin: FakeSession | None = None) -> Element:
        stanza = parse(xml) if isinstance(xml, str) else xml
        if origin is not None:
            stanza.attrs["from"] = str(origin.jid)
        self.router.route(stanza, origin)
        await self.router.drain()
        return stanza

    async def close(self) -> None:
        for host in self.hosts.values():
            await loader.unload_all(host)
        await self.storage.close()
