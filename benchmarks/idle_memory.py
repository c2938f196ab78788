"""Which Python allocations an idle session keeps: xmppd in this process under tracemalloc, the clients in a child.

    python benchmarks/idle_memory.py --config FILE [--tls starttls|plain|direct] [--sessions 1000] [--top 30]

The clients are the load generator's (``python -m benchmarks.loadgen idle``), so the sessions are the ones the
comparison measures: bound, initial presence sent, held open. A few warm-up sessions are opened first so that
code paths loaded by the first login are not counted. The resident memory per session against any server (not
only xmppd) is the load generator's ``idle`` scenario; this tool answers the follow-up question: what is it made of.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loadgen.metrics import process_rss
from xmppd.config import load_config
from xmppd.server import Server


async def _wait_for_sessions(server: Server, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(server.sessions) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(server.sessions)} of {count} sessions came up")
        await asyncio.sleep(0.2)


async def measure(args: argparse.Namespace) -> None:
    server = Server(load_config(Path(args.config)))
    await server.start()
    port = (server.listeners.c2s_direct_tls if args.tls == "direct" else server.listeners.c2s)[0][1]
    domain = next(iter(server.hosts))
    loadgen = [sys.executable, "-m", "benchmarks.loadgen"]
    common = ["--port", str(port), "--domain", domain, "--prefix", args.prefix]
    cwd = Path(__file__).resolve().parents[1]

    async def run(*argv: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*loadgen, *argv, *common, cwd=cwd)

    # Registration is offered over TLS only.
    registering = await run("register", "--accounts", str(args.warmup + args.sessions), "--tls", "starttls")
    await registering.wait()
    warm = await run("idle", "--sessions", str(args.warmup), "--tls", args.tls)
    await warm.wait()
    await asyncio.sleep(1.0)
    gc.collect()
    tracemalloc.start(args.frames)
    before = tracemalloc.take_snapshot()
    rss_before = process_rss(os.getpid())
    holder = await run(
        "idle",
        "--sessions",
        str(args.sessions),
        "--offset",
        str(args.warmup),
        "--hold",
        "3600",
        "--tls",
        args.tls,
    )
    try:
        await _wait_for_sessions(server, args.sessions, timeout=300)
        await asyncio.sleep(1.0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        rss_after = process_rss(os.getpid())
    finally:
        holder.terminate()
        await holder.wait()
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(
        f"{args.tls}: {args.sessions} sessions: traced Python +{traced / args.sessions / 1024:.1f} KiB per "
        f"session; RSS +{(rss_after - rss_before) / args.sessions / 1024:.1f} KiB per session "
        "(tracemalloc's own overhead included)"
    )
    for stat in after.compare_to(before, args.group)[: args.top]:
        if stat.size_diff <= 0:
            continue
        where = stat.traceback.format(limit=args.frames)
        print(
            f"{stat.size_diff / args.sessions:8.0f} B/session {stat.count_diff / args.sessions:6.2f} blocks/session  "
            + " <- ".join(line.strip() for line in where if not line.startswith("    "))
        )
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="xmppd configuration (registration must be allowed)")
    parser.add_argument("--tls", choices=("plain", "starttls", "direct"), default="starttls")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20, help="sessions opened before the baseline")
    parser.add_argument("--prefix", default="idle")
    parser.add_argument("--frames", type=int, default=1, help="traceback depth")
    parser.add_argument("--group", choices=("lineno", "traceback", "filename"), default="lineno")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        uvloop = None
    if uvloop is not None and not args.no_uvloop:
        uvloop.run(measure(args))
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
