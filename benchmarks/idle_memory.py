"""Idle memory per authenticated session: open N sessions (bound, initial presence sent), hold them, measure.

Against a running server (any XMPP server; accounts ``PREFIX0`` .. ``PREFIX<N-1>`` with one password)::

    python benchmarks/idle_memory.py --port 5222 --tls starttls --sessions 5000 --server-pid PID [--register]

prints the server's resident memory before and after, and the difference per session. A few warm-up sessions
are opened first, so that code paths loaded by the first login are not counted.

In-process, to see which Python allocations a session keeps (tracemalloc)::

    python benchmarks/idle_memory.py --config FILE --tls starttls --sessions 1000 --tracemalloc [--top 25]

runs xmppd in this process with tracemalloc on, the clients in a child process, and prints the allocation sites
that grew, per session.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.xmpp_client import Connection, LoginError, Target, client_tls_context


def rss_kib(pid: int) -> int:
    """The resident set of ``pid`` in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def register(target: Target, prefix: str, password: str, count: int, concurrency: int) -> None:
    """Create accounts in-band (XEP-0077), ``concurrency`` at a time; existing ones are left as they are."""
    queue = list(range(count))
    context = client_tls_context()
    created = 0

    async def worker() -> None:
        nonlocal created
        connection: Connection | None = None
        while queue:
            index = queue.pop()
            if connection is None:
                connection = Connection(target, context)
                await connection.open()
            if await connection.register(f"{prefix}{index}", password):
                created += 1
            # One account per connection is the server's rule (XEP-0077 section 3.1.1).
            await connection.close()
            connection = None
        if connection is not None:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(f"registered {created} new accounts ({count - created} existed)", file=sys.stderr)


async def open_sessions(
    target: Target, prefix: str, password: str, indexes: range, concurrency: int
) -> list[Connection]:
    context = client_tls_context()
    sessions: list[Connection] = []
    pending = list(reversed(indexes))

    async def worker() -> None:
        while pending:
            index = pending.pop()
            connection = Connection(target, context)
            for attempt in range(3):
                try:
                    await connection.login(f"{prefix}{index}", password)
                    break
                except (LoginError, OSError) as exc:
                    connection.abort()
                    if attempt == 2:
                        raise
                    print(f"retrying {prefix}{index}: {exc}", file=sys.stderr)
                    await asyncio.sleep(0.5)
                    connection = Connection(target, context)
            sessions.append(connection)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sessions


async def measure(args: argparse.Namespace) -> None:
    target = Target(args.address, args.port, args.domain, args.tls)
    if args.register:
        # Registration is offered over TLS only.
        secured = Target(
            args.address, args.port, args.domain, "starttls" if args.tls == "plain" else args.tls
        )
        await register(secured, args.prefix, args.password, args.sessions + args.warmup, args.concurrency)
    warm = await open_sessions(target, args.prefix, args.password, range(args.warmup), args.concurrency)
    await asyncio.sleep(args.settle)
    before = rss_kib(args.server_pid) if args.server_pid else 0
    started = time.monotonic()
    held = await open_sessions(
        target, args.prefix, args.password, range(args.warmup, args.warmup + args.sessions), args.concurrency
    )
    elapsed = time.monotonic() - started
    await asyncio.sleep(args.settle)
    if args.server_pid:
        after = rss_kib(args.server_pid)
        print(
            f"{args.tls}: {args.sessions} sessions in {elapsed:.1f}s; server RSS {before} -> {after} KiB: "
            f"{(after - before) * 1024 / args.sessions / 1024:.1f} KiB per session"
        )
    if args.ready:
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    elif args.hold:
        await asyncio.sleep(args.hold)
    for connection in warm + held:
        connection.abort()


def tracemalloc_run(args: argparse.Namespace) -> None:
    """xmppd in this process with tracemalloc, the clients in a child; print what the sessions keep."""
    from xmppd.config import load_config  # noqa: PLC0415
    from xmppd.server import Server  # noqa: PLC0415

    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        uvloop = None

    async def main() -> None:
        server = Server(load_config(Path(args.config)))
        await server.start()
        port = (server.listeners.c2s_direct_tls if args.tls == "direct" else server.listeners.c2s)[0][1]
        child_args = [
            sys.executable,
            __file__,
            "--port",
            str(port),
            "--tls",
            args.tls,
            "--domain",
            args.domain,
            "--prefix",
            args.prefix,
            "--password",
            args.password,
            "--concurrency",
            str(args.concurrency),
            "--warmup",
            str(args.warmup),
            "--settle",
            "0.5",
        ]
        if args.register:
            registering = await asyncio.create_subprocess_exec(
                *child_args, "--sessions", str(args.sessions), "--register", "--warmup", "0"
            )
            await registering.wait()
        # Warm up: load every code path once, then start tracing.
        warm = await asyncio.create_subprocess_exec(*child_args, "--sessions", "10")
        await warm.wait()
        await asyncio.sleep(1.0)
        gc.collect()
        tracemalloc.start(args.frames)
        before = tracemalloc.take_snapshot()
        rss_before = rss_kib(os.getpid())
        child = await asyncio.create_subprocess_exec(
            *child_args,
            "--sessions",
            str(args.sessions),
            "--ready",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stdin is not None
        line = await child.stdout.readline()
        if line.strip() != b"READY":
            raise SystemExit("the client child failed")
        await asyncio.sleep(1.0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        rss_after = rss_kib(os.getpid())
        traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        total = args.sessions + args.warmup
        print(
            f"{args.tls}: {total} sessions: traced Python +{traced / total / 1024:.1f} KiB per session; "
            f"RSS +{(rss_after - rss_before) / total:.1f} KiB per session (tracemalloc's own overhead included)"
        )
        for stat in after.compare_to(before, args.group)[: args.top]:
            if stat.size_diff <= 0:
                continue
            where = stat.traceback.format(limit=args.frames)
            print(
                f"{stat.size_diff / total:8.0f} B/session {stat.count_diff / total:6.2f} blocks/session  "
                + " <- ".join(line.strip() for line in where if not line.startswith("    "))
            )
        child.stdin.close()
        await child.wait()
        await server.stop()

    if uvloop is not None and not args.no_uvloop:
        uvloop.run(main())
    else:
        asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5222)
    parser.add_argument("--domain", default="localhost")
    parser.add_argument("--tls", choices=("plain", "starttls", "direct"), default="starttls")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20, help="sessions opened before the baseline")
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--prefix", default="idle")
    parser.add_argument("--password", default="secret-password")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--register", action="store_true", help="create the accounts in-band first")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each measurement")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep the sessions open after")
    parser.add_argument("--ready", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help="run xmppd in-process (needs --config)")
    parser.add_argument("--config", help="xmppd configuration for --tracemalloc")
    parser.add_argument("--frames", type=int, default=1, help="traceback depth for --tracemalloc")
    parser.add_argument("--group", choices=("lineno", "traceback", "filename"), default="lineno")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    if args.tracemalloc:
        if not args.config:
            parser.error("--tracemalloc needs --config")
        tracemalloc_run(args)
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
