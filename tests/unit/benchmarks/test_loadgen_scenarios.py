"""The load generator's scenarios end to end against a tiny in-process router (no TLS, PLAIN): accounts
``benchN`` with password ``benchN-secret``, messages routed by their full JID."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator

import pytest

from benchmarks.loadgen.basic import login, register
from benchmarks.loadgen.client import Settings
from benchmarks.loadgen.common import Context
from benchmarks.loadgen.msg import msg
from tests.unit.benchmarks.scripted import ScriptedStream

_TO = re.compile(rb"""\sto=['"]([^'"]+)['"]""")
_ID = re.compile(rb"""\sid=['"]([^'"]+)['"]""")


class Hub:
    def __init__(self) -> None:
        self.sessions: dict[bytes, Routed] = {}
        self.accounts: set[bytes] = set()
        self.messages = 0


class Routed(ScriptedStream):
    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.user: bytes | None = None
        self.jid = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.sessions.pop(self.jid, None)

    def step(self) -> bool:
        buf = self.buffer.lstrip()
        self.buffer = buf
        if buf.startswith(b"<?xml"):
            return self.take(b"?>") is not None
        if buf.startswith(b"<stream:stream"):
            if self.take(b">") is None:
                return False
            self.write(
                b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
            )
            if self.user is None:
                self.write(
                    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
                )
            else:
                self.write(
                    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
                )
            return True
        if buf.startswith(b"<auth"):
            element = self.take(b"</auth>")
            if element is None:
                return False
            _, user, password = base64.b64decode(element[element.index(b">") + 1 : -7]).split(b"\0")
            if user in self.hub.accounts and password == user + b"-secret":
                self.user = user
                self.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            else:
                self.write(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
            return True
        if buf.startswith(b"<iq"):
            element = self.take(b"</iq>")
            if element is None:
                return False
            match = _ID.search(element)
            iq_id = match.group(1) if match else b""
            if b"jabber:iq:register" in element:
                user = element.split(b"<username>")[1].split(b"</username>")[0]
                if user in self.hub.accounts:
                    self.write(
                        b"<iq type='error' id='" + iq_id + b"'><error type='cancel'>"
                        b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                    )
                else:
                    self.hub.accounts.add(user)
                    self.write(b"<iq type='result' id='" + iq_id + b"'/>")
            elif b"xmpp-bind" in element:
                assert self.user is not None
                resource = element.split(b"<resource>")[1].split(b"</resource>")[0]
                self.jid = self.user + b"@localhost/" + resource
                self.hub.sessions[self.jid] = self
                self.write(
                    b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                    b"<jid>" + self.jid + b"</jid></bind></iq>"
                )
            else:
                self.write(b"<iq type='result' id='" + iq_id + b"'/>")
            return True
        if buf.startswith(b"<presence"):
            return self.take(b"/>") is not None
        if buf.startswith(b"<message"):
            element = self.take(b"</message>")
            if element is None:
                return False
            match = _TO.search(element)
            target = self.hub.sessions.get(match.group(1)) if match else None
            if target is not None:
                self.hub.messages += 1
                # Forwarded in another style: double quotes, an explicit namespace, 'from' first.
                target.write(b'<message xmlns="jabber:client" from="' + self.jid + b'"' + element[8:])
            return True
        if buf.startswith(b"</stream:stream>"):
            self.take(b"</stream:stream>")
            self.write(b"</stream:stream>")
            assert self.transport is not None
            self.transport.close()
            return True
        return False


@pytest.fixture
async def hub_ctx() -> AsyncIterator[tuple[Hub, Context]]:
    hub = Hub()
    hub.accounts.update(f"bench{i}".encode() for i in range(8))
    server = await asyncio.get_running_loop().create_server(lambda: Routed(hub), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings("127.0.0.1", port, "localhost", tls="plain", mech="PLAIN", timeout=5)
    yield hub, Context(settings)
    server.close()
    await server.wait_closed()


async def test_msg_window(hub_ctx: tuple[Hub, Context]) -> None:
    hub, ctx = hub_ctx
    result = await msg(ctx, pairs=2, duration=0.4, window=3, warmup=0.1)
    assert ctx.errors.count == 0, ctx.errors.samples
    assert (result["mode"], result["pairs"], result["lost"], result["duplicates"]) == ("window", 2, 0, 0)
    assert isinstance(result["delivered"], int) and result["delivered"] > 10
    latency = result["latency_ms"]
    assert isinstance(latency, dict) and set(latency) == {"p50", "p90", "p99", "max"}
    assert hub.messages >= result["delivered"]


async def test_msg_rate(hub_ctx: tuple[Hub, Context]) -> None:
    _, ctx = hub_ctx
    result = await msg(ctx, pairs=1, duration=0.5, rate=200, warmup=0.1)
    assert ctx.errors.count == 0, ctx.errors.samples
    assert (result["mode"], result["target_rate"], result["lost"], result["duplicates"]) == (
        "rate",
        200,
        0,
        0,
    )
    assert isinstance(result["sent"], int) and 50 <= result["sent"] <= 150


async def test_login_and_register(hub_ctx: tuple[Hub, Context]) -> None:
    _, ctx = hub_ctx
    result = await login(ctx, logins=6, concurrency=3, accounts=4)
    assert (result["logins"], ctx.errors.count) == (6, 0)
    result = await register(ctx, accounts=3, concurrency=2, offset=7)
    assert (result["created"], result["existed"], ctx.errors.count) == (2, 1, 0)
    result = await login(ctx, logins=1, concurrency=1, offset=100)
    assert result["logins"] == 0
    assert ctx.errors.count == 1
    assert "not-authorized" in ctx.errors.samples[0]
