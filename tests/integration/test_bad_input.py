"""Bad input over raw sockets: each gets the right stream error, and a client connected meanwhile keeps working."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from tests.integration.conftest import ClientFactory
from xmppd.accounts import create_account
from xmppd.jid import JID
from xmppd.server import Server
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_STREAM_ERRORS, NS_STREAMS
from xmppd.xml.parser import StreamParser

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)

BOMB = (
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>" % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
    b"version='1.0'><message><body>&lol9;</body></message>"
)


async def exchange(server: Server, payload: bytes) -> tuple[str | None, bool]:
    """Send ``payload`` on a fresh plain connection; returns (stream error condition, connection closed)."""
    port = server.listeners.c2s[0][1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    received = b""
    closed = False
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                closed = True
                break
            received += chunk
    except TimeoutError:
        pass
    finally:
        writer.close()
    parser = StreamParser(max_stanza_size=1 << 22)
    condition = None
    for event in parser.feed(received):
        if isinstance(event, Element) and (event.ns, event.name) == (NS_STREAMS, "error"):
            condition = next(iter(event.find_all(ns=NS_STREAM_ERRORS))).name
    return condition, closed


CASES = [
    ("ill-formed", HEADER + b"<message><body>x</message>", "not-well-formed"),
    ("dtd", b"<?xml version='1.0'?><!DOCTYPE stream:stream SYSTEM 'x.dtd'>" + HEADER, "restricted-xml"),
    ("entity-bomb", BOMB, "restricted-xml"),
    ("undefined-entity", HEADER + b"<message><body>&ouch;</body></message>", "restricted-xml"),
    ("comment", HEADER + b"<!-- hello -->", "restricted-xml"),
    ("processing-instruction", HEADER + b"<?evil instruction?>", "restricted-xml"),
    ("oversized", HEADER + b"<message><body>" + b"x" * 300_000 + b"</body></message>", "policy-violation"),
    ("deep", HEADER + b"<a>" * 200, "policy-violation"),
    (
        "stanza-before-auth",
        HEADER + b"<message to='bob@localhost'><body>hi</body></message>",
        "not-authorized",
    ),
    (
        "wrong-stream-namespace",
        b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:not:streams' to='localhost' version='1.0'>",
        "invalid-namespace",
    ),
    (
        "wrong-content-namespace",
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
        b"version='1.0'>",
        "invalid-namespace",
    ),
    ("unserved-host", HEADER.replace(b"to='localhost'", b"to='example.net'"), "host-unknown"),
    ("latin1", b"<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER[21:], "unsupported-encoding"),
    ("bad-utf8", HEADER + b"<message><body>\xff\xfe</body></message>", "not-well-formed"),
]


@pytest.mark.parametrize(("payload", "condition"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_input_gets_stream_error(
    server: Server, clients: ClientFactory, payload: bytes, condition: str
) -> None:
    bystander = await clients.login("alice@localhost/bystander")
    got, closed = await exchange(server, payload)
    assert got == condition
    assert closed, "the server closes the connection after a stream error"
    # The rest of the server is unaffected.
    assert await bystander.plugin["xep_0199"].ping("localhost", timeout=5) is not None


async def test_unauthenticated_connection_times_out(make_server: object) -> None:
    server: Server = await make_server(c2s={"auth_timeout": 1.0})  # type: ignore[operator]
    condition, closed = await exchange(server, HEADER)
    assert condition == "connection-timeout" and closed


async def test_client_that_does_not_read_is_cut_off(
    make_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Back-pressure: what is queued for a client that never reads is bounded, then its stream is closed."""
    limit = 65536
    server: Server = await make_server(
        c2s={"max_send_buffer": limit, "rate_limit": 1 << 30, "rate_burst": 1 << 30}
    )
    assert server.storage is not None
    for name in ("alice", "bob"):
        await create_account(server.storage, "localhost", name, "secret", 4096)
    clients = ClientFactory(server)
    try:
        alice = await clients.login("alice@localhost/reader")
        slow = await clients.login("bob@localhost/slow")
        slow.send_presence()
        await asyncio.sleep(0.2)
        assert slow.transport is not None
        # Bob's client stops reading, and its kernel takes little, so what the server sends piles up there.
        slow.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.transport.pause_reading()
        (bob_session,) = [s for s in server.clients if s.bound and str(s.jid) == "bob@localhost/slow"]
        body = "y" * 60_000
        # Bounded: the server's kernel send buffer (at most tcp_wmem's maximum) fills first, then ours.
        for _ in range(1000):
            if bob_session.stream.is_closed:
                break
            alice.send_message(mto="bob@localhost/slow", mbody=body, mtype="chat")
            await asyncio.sleep(0.002)
            assert bob_session.connection.send_buffer_size() <= limit + 2 * len(body)
        for _ in range(100):
            if bob_session.stream.is_closed:
                break
            await asyncio.sleep(0.05)
        assert bob_session.stream.is_closed
        assert "closing with policy-violation" in caplog.text
        assert not server.sessions.has_resource(JID.parse("bob@localhost"), "slow")
        # Everyone else is fine.
        assert await alice.plugin["xep_0199"].ping("localhost", timeout=5) is not None
    finally:
        await clients.close()
