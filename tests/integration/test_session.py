"""A session whose stream ends while it waits (a failed-login delay): the step drops its answer, and logs no error."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Awaitable, Callable

import pytest

from xmppd.accounts import create_account
from xmppd.errors import StreamError
from xmppd.server import Server
from xmppd.session import ClientSession
from xmppd.stream.state import C2SState
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_SASL
from xmppd.xml.parser import StreamClose, StreamParser

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
BOGUS_AUTH = f"<auth xmlns='{NS_SASL}' mechanism='BOGUS'/>".encode()
SCRAM_AUTH = (
    f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>"
    f"{base64.b64encode(b'n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL').decode()}</auth>"
).encode()
PLAIN_TOKEN = base64.b64encode(b"\0alice\0wrong").decode()
PLAIN_AUTH = f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{PLAIN_TOKEN}</auth>".encode()
ABORT = f"<abort xmlns='{NS_SASL}'/>".encode()


class RawClient:
    """A client on a plain socket that writes XML and reads the server's answers element by element."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = StreamParser(max_stanza_size=1 << 20)
        self.items: list[object] = []

    @classmethod
    async def connect(cls, server: Server, *, direct_tls: bool = False) -> RawClient:
        if direct_tls:
            context = ssl.create_default_context(cafile=str(server.config.certificate_path))
            context.check_hostname = False
            port = server.listeners.c2s_direct_tls[0][1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.listeners.c2s[0][1])
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_element(self, timeout: float = 5.0) -> Element | None:
        """The next element from the server; None when the stream or the connection ends first."""
        while True:
            while self.items:
                item = self.items.pop(0)
                if isinstance(item, Element):
                    return item
                if isinstance(item, StreamClose):
                    return None
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not chunk:
                return None
            self.items.extend(self.parser.feed(chunk))

    async def fail_once(self) -> None:
        """Open the stream and fail one authentication, so that the next attempt from here is delayed."""
        self.send(HEADER)
        features = await self.next_element()
        assert features is not None and features.name == "features"
        self.send(BOGUS_AUTH)
        failure = await self.next_element()
        assert failure is not None and failure.name == "failure"

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def slow_server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    """A server that delays a second attempt from an address by 0.5 s, and accepts SASL without TLS."""
    server = await make_server(c2s={"tls_required": False}, auth={"failure_delay": 0.5})
    assert server.storage is not None
    await create_account(server.storage, "localhost", "alice", "secret", 4096)
    return server


async def waiting_session(server: Server) -> ClientSession:
    """The one session whose credentials are being waited for (the failed-login delay runs)."""
    for _ in range(100):
        waiting = [s for s in server.clients if s.stream.state is C2SState.SASL_WAITING]
        if waiting:
            (session,) = waiting
            return session
        await asyncio.sleep(0.01)
    raise AssertionError("no session waits for credentials")


async def ended(server: Server, session: ClientSession) -> None:
    for _ in range(300):
        if session not in server.clients:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the session did not end")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("direct_tls", "auth"), [(False, SCRAM_AUTH), (True, PLAIN_AUTH)], ids=["scram", "plain"]
)
async def test_a_stream_closed_during_the_delay_is_not_answered(
    slow_server: Server, caplog: pytest.LogCaptureFixture, direct_tls: bool, auth: bytes
) -> None:
    client = await RawClient.connect(slow_server, direct_tls=direct_tls)
    try:
        await client.fail_once()
        client.send(auth)
        session = await waiting_session(slow_server)
        session.close(StreamError("system-shutdown"))  # as when the server stops
        error = await client.next_element()
        assert error is not None and error.name == "error"
        assert await client.next_element() is None  # nothing after the stream error: no challenge, no failure
        await ended(slow_server, session)
        await asyncio.sleep(0.6)  # the delay ran out
    finally:
        client.close()
    assert errors(caplog) == []


async def test_a_stream_that_times_out_during_the_delay_is_not_answered(
    make_server: Callable[..., Awaitable[Server]], caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(c2s={"tls_required": False, "auth_timeout": 1.0}, auth={"failure_delay": 1.5})
    client = await RawClient.connect(server)
    try:
        await client.fail_once()
        client.send(SCRAM_AUTH)
        session = await waiting_session(server)
        error = await client.next_element()
        assert error is not None and error.find("connection-timeout") is not None
        assert await client.next_element() is None
        await ended(server, session)
        await asyncio.sleep(0.6)  # the delay ran out
    finally:
        client.close()
    assert errors(caplog) == []


async def test_a_client_that_leaves_during_the_delay_is_let_go_after_it(
    slow_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading is paused while the session waits: the server sees the client go once the delay ran out."""
    client = await RawClient.connect(slow_server)
    await client.fail_once()
    client.send(SCRAM_AUTH)
    session = await waiting_session(slow_server)
    client.close()
    await ended(slow_server, session)
    assert errors(caplog) == []


async def test_abort_during_the_delay_is_answered_after_it(
    slow_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that come during the delay wait for it: the exchange goes on in order."""
    client = await RawClient.connect(slow_server)
    try:
        await client.fail_once()
        client.send(SCRAM_AUTH)
        session = await waiting_session(slow_server)
        client.send(ABORT)
        challenge = await client.next_element()
        assert challenge is not None and challenge.name == "challenge"
        failure = await client.next_element()
        assert failure is not None and failure.name == "failure" and failure.find("aborted") is not None
        assert not session.stream.is_closed
    finally:
        client.close()
    await ended(slow_server, session)
    assert errors(caplog) == []
