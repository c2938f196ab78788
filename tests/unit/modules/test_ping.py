"""XEP-0199: pings answered, and idle clients pinged by the server and closed when they do not answer."""

from __future__ import annotations

import asyncio

from tests.helpers.harness import Harness
from tests.unit.modules.conftest import condition, only
from xmppd.errors import StreamError
from xmppd.modules.ping import Ping
from xmppd.xml.ns import NS_PING

PING = "<iq type='get' id='p1' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>"


async def test_ping_to_server_and_own_account_is_answered() -> None:
    harness = await Harness.create(modules=("ping",))
    await harness.add_account("alice")
    await harness.add_account("bob")
    try:
        alice = harness.bind("alice@localhost/a")
        for to in ("localhost", "alice@localhost"):
            await harness.route(PING.format(to=to), alice)
            result = only(alice)
            assert result.attrs["type"] == "result" and result.attrs["id"] == "p1"
            assert result.children == []
        # Another account's bare JID: its server does not answer for it.
        await harness.route(PING.format(to="bob@localhost"), alice)
        assert condition(only(alice)) == "service-unavailable"
    finally:
        await harness.close()


async def _wait_for(predicate: object, seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)


async def test_silent_client_is_pinged_and_closed_without_answer() -> None:
    harness = await Harness.create(
        modules=("ping",), configs={"ping": Ping.Config(interval=0.1, timeout=0.1)}
    )
    try:
        silent = harness.bind("alice@localhost/silent")
        silent.last_activity -= 10
        await _wait_for(lambda: bool(silent.closed_with))
        probe = silent.received[0]
        assert probe.attrs["type"] == "get" and probe.find("ping", NS_PING) is not None
        assert probe.attrs["from"] == "localhost" and probe.attrs["to"] == "alice@localhost/silent"
        (error,) = silent.closed_with
        assert isinstance(error, StreamError) and error.condition == "connection-timeout"
    finally:
        await harness.close()


async def test_client_that_answers_the_ping_stays() -> None:
    harness = await Harness.create(
        modules=("ping",), configs={"ping": Ping.Config(interval=0.1, timeout=0.3)}
    )
    try:
        alive = harness.bind("alice@localhost/alive")
        alive.last_activity -= 10
        await _wait_for(lambda: bool(alive.received))
        probe = alive.take()[0]
        alive.last_activity += 20  # it answers, so it is active again
        await harness.route(f"<iq type='result' id='{probe.attrs['id']}' to='localhost'/>", alive)
        await asyncio.sleep(0.5)
        assert alive.closed_with == []
    finally:
        await harness.close()
