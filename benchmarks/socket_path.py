"""Socket-path benchmark: 1:1 chat between online local users through a real xmppd process.

What ``hot_path.py`` leaves out is here: the event loop, TCP, TLS, write coalescing. The script starts
``python -m xmppd serve`` in a temporary directory (or drives a server already running: ``--port`` and
``--server-pid``, with in-band registration open), registers ``2 x --pairs`` accounts in-band, logs each in over
STARTTLS with SCRAM-SHA-1, binds a resource and sends initial presence. Then the two clients of each pair send
each other chat messages (100-byte body) addressed to the partner's full JID:

- by default closed-loop: each sender keeps ``--window`` messages in flight and sends one more for each its
  partner receives, so the server runs flat out;
- with ``--rate R``: open-loop, R messages per second in all, evenly paced, for latency at a given load.

After ``--warmup`` seconds the measurement runs for ``--duration`` seconds. Reported: messages delivered, the
server's CPU seconds (user + system) over the measurement, messages per server CPU-second, and the latency from
send to receipt (client clock; p50/p99/max). The server's pid is printed first, for a profiler to attach to.

    python benchmarks/socket_path.py [--pairs 2] [--window 16] [--duration 10] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xmppd.xml.element import Element
from xmppd.xml.parser import StreamParser

DOMAIN = "localhost"
PASSWORD = "benchmark-password"
BODY = "x" * 100
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    f"xmlns:stream='http://etherx.jabber.org/streams' to='{DOMAIN}' version='1.0'>"
).encode()
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

# A delivered message, as the server writes it: the id carries the sender's sequence number and send time.
MESSAGE_ID = re.compile(rb"<message [^>]*?id='(\d+)\.(\d+)'")
MESSAGE_END = b"</message>"

CONFIG = """\
[server]
data_dir = "{data_dir}"
log_level = "warning"

[c2s]
port = {port}
direct_tls_port = 0
rate_limit = 1099511627776
rate_burst = 1099511627776

[auth]
failure_delay = 0.0

[modules.register]
allow_registration = true
max_registrations_per_address = 1000000
"""


class Client:
    """A minimal XMPP client: negotiation through our parser, then raw bytes for the messages."""

    def __init__(self, username: str, port: int, stats: Stats) -> None:
        self.username = username
        self.port = port
        self.stats = stats
        self.jid = ""
        self.peer: Client | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._parser = StreamParser()
        self._elements: list[Element] = []
        self._sequence = 0
        self.sent = 0
        self.received = 0
        self.refill = False
        """Closed loop: send one more for each message the partner receives."""

    # -- negotiation -----------------------------------------------------------------------------------------

    async def login(self, *, register: bool) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        features = await self._open()
        assert features.find("starttls") is not None, "the server offers no STARTTLS"
        self._write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert (await self._next()).name == "proceed"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed; nothing secret here
        await self.writer.start_tls(context)
        features = await self._open()
        if register:
            query = f"<username>{self.username}</username><password>{PASSWORD}</password>"
            self._write(
                f"<iq type='set' id='reg'><query xmlns='jabber:iq:register'>{query}</query></iq>".encode()
            )
            answer = await self._next()
            if answer.attrs.get("type") != "result" and "conflict" not in repr(answer):
                raise RuntimeError(f"registration of {self.username} failed: {answer!r}")
        await self._scram()
        await self._open()
        self._write(
            b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<resource>bench</resource></bind></iq>"
        )
        bound = await self._next()
        jid = bound.find("bind")
        assert jid is not None, f"bind failed: {bound!r}"
        self.jid = jid.child_text("jid") or ""
        self._write(b"<presence/>")

    async def _scram(self) -> None:
        nonce = secrets.token_urlsafe(18)
        first_bare = f"n={self.username},r={nonce}"
        auth = base64.b64encode(b"n,," + first_bare.encode()).decode()
        self._write(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{auth}</auth>".encode())
        challenge = await self._next()
        server_first = base64.b64decode(challenge.text).decode()
        fields = dict(item.split("=", 1) for item in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha1", PASSWORD.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        final_bare = f"c={base64.b64encode(b'n,,').decode()},r={fields['r']}"
        auth_message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.digest(hashlib.sha1(client_key).digest(), auth_message, "sha1")
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
        response = base64.b64encode(f"{final_bare},p={proof}".encode()).decode()
        self._write(f"<response xmlns='{NS_SASL}'>{response}</response>".encode())
        outcome = await self._next()
        if outcome.name != "success":
            raise RuntimeError(f"authentication of {self.username} failed: {outcome!r}")

    async def _open(self) -> Element:
        """(Re)start the stream; returns the features."""
        self._parser.reset()
        self._elements.clear()
        self._write(HEADER)
        return await self._next()

    async def _next(self) -> Element:
        assert self.reader is not None
        while not self._elements:
            data = await self.reader.read(65536)
            if not data:
                raise RuntimeError(f"{self.username}: the server closed the connection")
            self._elements.extend(item for item in self._parser.feed(data) if isinstance(item, Element))
        return self._elements.pop(0)

    def _write(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    # -- messages --------------------------------------------------------------------------------------------

    def send_messages(self, count: int) -> None:
        assert self.peer is not None
        now = time.perf_counter_ns()
        parts = []
        for _ in range(count):
            self._sequence += 1
            parts.append(
                f"<message to='{self.peer.jid}' type='chat' id='{self._sequence}.{now}'>"
                f"<body>{BODY}</body></message>"
            )
        self.sent += count
        self._write("".join(parts).encode())

    async def receive_messages(self) -> None:
        """Count the messages that arrive (and their latency) until the connection closes."""
        assert self.reader is not None
        pending = b""
        while True:
            data = await self.reader.read(262144)
            if not data:
                return
            pending += data
            end = pending.rfind(MESSAGE_END)
            if end < 0:
                continue
            end += len(MESSAGE_END)
            complete, pending = pending[:end], pending[end:]
            now = time.perf_counter_ns()
            count = 0
            for match in MESSAGE_ID.finditer(complete):
                count += 1
                self.stats.delivered(now - int(match.group(2)))
            self.received += count
            sender = self.peer
            if sender is not None and sender.refill and count:
                sender.send_messages(count)

    async def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.write(b"</stream:stream>")
                self.writer.close()
                await asyncio.wait_for(self.writer.wait_closed(), 2)


class Stats:
    """Deliveries and their latencies, recorded only while measuring."""

    def __init__(self) -> None:
        self.measuring = False
        self.count = 0
        self.latencies: list[int] = []

    def delivered(self, latency_ns: int) -> None:
        if self.measuring:
            self.count += 1
            self.latencies.append(latency_ns)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux proc filesystem)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError("the server did not start listening")


async def paced(clients: list[Client], rate: float, stop: asyncio.Event) -> None:
    """Open loop: ``rate`` messages per second in all, spread evenly over the senders, in 1 ms ticks."""
    start = time.perf_counter()
    due_total = 0
    while not stop.is_set():
        await asyncio.sleep(0.001)
        target = int((time.perf_counter() - start) * rate)
        for index in range(due_total, target):
            clients[index % len(clients)].send_messages(1)
        due_total = max(due_total, target)


async def run(args: argparse.Namespace, port: int, pid: int) -> None:
    stats = Stats()
    prefix = secrets.token_hex(3)
    clients = [Client(f"bench{prefix}{i}", port, stats) for i in range(2 * args.pairs)]
    await asyncio.gather(*(client.login(register=True) for client in clients))
    for alice, bob in zip(clients[::2], clients[1::2], strict=True):
        alice.peer, bob.peer = bob, alice
    receivers = [asyncio.create_task(client.receive_messages()) for client in clients]
    stop = asyncio.Event()
    pacer = None
    if args.rate:
        pacer = asyncio.create_task(paced(clients, args.rate, stop))
    else:
        for client in clients:
            client.refill = True
            client.send_messages(args.window)
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.duration)
    cpu, wall = cpu_seconds(pid) - cpu_before, time.perf_counter() - wall_before
    stats.measuring = False
    stop.set()
    for client in clients:
        client.refill = False
    if pacer is not None:
        await pacer
    await asyncio.sleep(0.5)
    for client in clients:
        await client.close()
    for task in receivers:
        task.cancel()
    count = stats.count
    latencies = sorted(stats.latencies)
    mode = f"rate {args.rate:g}/s" if args.rate else f"window {args.window}"
    print(
        f"socket path (1:1 chat over STARTTLS, {args.pairs} pairs, {mode}): {count:,} messages in {wall:.1f} s = "
        f"{count / wall:,.0f} msg/s; server CPU {cpu:.2f} s = {count / cpu if cpu else 0:,.0f} msg per CPU-second"
    )
    if latencies:
        p50 = statistics.median(latencies) / 1e6
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e6
        print(f"latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1] / 1e6:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2, help="pairs of clients (default 2)")
    parser.add_argument("--window", type=int, default=16, help="messages in flight per sender (default 16)")
    parser.add_argument("--rate", type=float, default=0, help="open loop: messages per second in all")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (default 2)")
    parser.add_argument("--port", type=int, help="drive the server already listening here")
    parser.add_argument("--server-pid", type=int, help="its pid (for its CPU time); with --port")
    args = parser.parse_args()
    if (args.port is None) != (args.server_pid is None):
        parser.error("--port and --server-pid go together")

    try:
        import uvloop  # noqa: PLC0415 (optional: the `fast` extra)
    except ImportError:
        uvloop = None

    def drive(port: int, pid: int) -> None:
        print(f"server pid {pid}, port {port}", flush=True)
        main_coroutine = run(args, port, pid)
        if uvloop is not None:
            uvloop.run(main_coroutine)
        else:
            asyncio.run(main_coroutine)

    if args.port is not None:
        drive(args.port, args.server_pid)
        return 0
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        config = Path(directory) / "xmppd.toml"
        config.write_text(CONFIG.format(data_dir=Path(directory) / "data", port=port))
        command = [sys.executable, "-m", "xmppd", "serve", "--config", str(config)]
        process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1])
        try:
            asyncio.run(wait_for_port(port, process))
            drive(port, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
