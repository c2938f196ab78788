"""Micro-benchmark of the hot path: parse -> route -> serialize of a one-to-one chat message.

Two in-memory client streams are negotiated to ESTABLISHED; then Alice's stream receives chat messages as bytes,
the router delivers each to Bob's session, and Bob's stream serializes it. Reported: messages per second and
microseconds per message, the best of several rounds (the least disturbed by the machine).

    python benchmarks/hot_path.py [--messages N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.streams import ClientEnd, establish
from xmppd.errors import StreamError
from xmppd.host import Host
from xmppd.jid import JID
from xmppd.modules import loader
from xmppd.routing.router import Router
from xmppd.routing.sessions import SessionTable
from xmppd.storage import open_storage
from xmppd.stream.events import StanzaReceived
from xmppd.xml.element import Element

BODY = "x" * 100


class BenchSession:
    """A bound session for the router whose deliveries go into its stream's output buffer."""

    def __init__(self, end: ClientEnd, jid: JID) -> None:
        self.end = end
        self.jid = jid
        self.priority = 0
        self.available = True
        self.presence: Element | None = None
        self.interested = False
        self.last_activity = 0.0

    def deliver(self, stanza: Element) -> None:
        self.end.stream.send(stanza)

    def close(self, error: StreamError | None = None) -> None:
        self.end.stream.close(error)


async def run(messages: int, rounds: int) -> list[float]:
    sessions = SessionTable()
    hosts: dict[str, Host] = {}
    router = Router(hosts, sessions)
    storage = await open_storage("memory://")
    # The default modules, so that whatever they add to the path (filters, hooks) is measured too.
    hosts["localhost"] = Host("localhost", storage, router, sessions, "xmppd benchmark")
    await loader.load(hosts["localhost"], loader.DEFAULT_MODULES, {})
    alice_end = establish("alice", "phone")
    bob_end = establish("bob", "laptop")
    alice = BenchSession(alice_end, JID.parse("alice@localhost/phone"))
    bob = BenchSession(bob_end, JID.parse("bob@localhost/laptop"))
    sessions.bind(alice)
    sessions.bind(bob)
    wire = [
        f"<message to='bob@localhost/laptop' type='chat' id='m{i}'><body>{BODY}</body></message>".encode()
        for i in range(messages)
    ]
    # Warm up: the first message lets the modules load what they cache per user (the block lists), as on a
    # running server; the rounds then measure the steady state.
    for event in alice_end.stream.receive_data(wire[0]):
        if isinstance(event, StanzaReceived):
            router.route(event.stanza, alice)
    await router.drain()
    assert bob_end.stream.data_to_send().count(b"<message") == 1, "the warm-up message was not delivered"
    rates = []
    for _ in range(rounds):
        delivered = 0
        start = time.perf_counter()
        for data in wire:
            for event in alice_end.stream.receive_data(data):
                if isinstance(event, StanzaReceived):
                    router.route(event.stanza, alice)
            out = bob_end.stream.data_to_send()
            delivered += out.count(b"<message")
        elapsed = time.perf_counter() - start
        assert delivered == messages, (delivered, messages)
        rates.append(messages / elapsed)
    await loader.unload_all(hosts["localhost"])
    await storage.close()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a short run that checks the benchmark works")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds = 2000, 2

    rates = asyncio.run(run(args.messages, args.rounds))
    best = max(rates)
    print(
        f"hot path (parse+route+serialize, 1:1 chat, {len(BODY)}-byte body): "
        f"best {best:,.0f} msg/s ({1e6 / best:.1f} us/msg), median {statistics.median(rates):,.0f} msg/s "
        f"over {args.rounds} rounds of {args.messages}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
