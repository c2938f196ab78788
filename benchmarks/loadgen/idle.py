"""The idle scenario: many logged-in sessions with presence, and the server's memory for them.

One process holds at most its RLIMIT_NOFILE of connections, so ``procs`` > 1 splits the sessions over that many
generator processes (forked, each with its own event loop). The parent reads the server's RSS before any child
connects, and again (after a pause to let it settle) once every child reports all its sessions up; then it holds
them `hold` seconds and lets the children close them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from .common import FD_MARGIN, Context, close_sessions, open_sessions, raise_nofile_limit
from .metrics import ErrorLog, Window, own_cpu, process_nofile_limit, servers_rss
from .runloop import run_loop

SETTLE_S = 2.0

Stats = dict[str, Any]


class SetupImpossibleError(Exception):
    """The run cannot be done as asked (e.g. more sessions than file descriptors)."""


async def _hold(
    ctx: Context, indices: Sequence[int], concurrency: int, ready: Callable[[Stats], Awaitable[None]]
) -> None:
    t0 = time.perf_counter()
    sessions = await open_sessions(ctx, indices, concurrency, presence=True)
    up = sum(1 for conn in sessions if conn is not None)
    await ready({"sessions": up, "setup_s": time.perf_counter() - t0, "cpu": own_cpu()})
    await close_sessions(sessions)


def _child(ctx: Context, indices: Sequence[int], concurrency: int, pipe: Connection) -> None:
    ctx.errors = ErrorLog()
    cache = ctx.settings.scram_cache
    known = set(cache.export())

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def ready(stats: Stats) -> None:
            pipe.send(("ready", stats))
            await loop.run_in_executor(None, pipe.recv)  # the parent's release

        await _hold(ctx, indices, concurrency, ready)

    try:
        run_loop(main())
    except BaseException as exc:
        ctx.errors.add_exception("generator process", exc)
    new_entries = {key: value for key, value in cache.export().items() if key not in known}
    pipe.send(("done", {"errors": ctx.errors.count, "samples": ctx.errors.samples, "cache": new_entries}))
    pipe.close()


def check_limits(ctx: Context, sessions: int, procs: int) -> int:
    """Raise our descriptor limit; SetupImpossibleError if `sessions` over `procs` processes do not fit in it."""
    per_proc = math.ceil(sessions / procs)
    limit = raise_nofile_limit(per_proc + FD_MARGIN)
    if per_proc + FD_MARGIN > limit:
        needed = math.ceil(sessions / max(1, limit - FD_MARGIN))
        raise SetupImpossibleError(
            f"{sessions} sessions over {procs} process(es) need {per_proc + FD_MARGIN} file descriptors "
            f"per process, above the RLIMIT_NOFILE limit of {limit} (which this process cannot raise): "
            f"use --procs {needed} or more"
        )
    for pid in ctx.server_pids:
        server_limit = process_nofile_limit(pid)
        if server_limit is not None and sessions + FD_MARGIN > server_limit:
            print(
                f"warning: the server process {pid} may open only {server_limit} files, "
                f"fewer than {sessions} sessions need",
                file=sys.stderr,
            )
    return limit


def idle(
    ctx: Context, sessions: int, concurrency: int, hold: float = 0.0, offset: int = 0, procs: int = 1
) -> dict[str, object]:
    procs = max(1, min(procs, sessions))
    limit = check_limits(ctx, sessions, procs)
    rss_before = servers_rss(ctx.server_pids)
    window = Window(ctx.server_pids)
    up = 0
    setup_s = 0.0
    rss_after: int | None = None

    def after_ready() -> None:
        nonlocal rss_after
        window.stop()
        time.sleep(SETTLE_S)
        rss_after = servers_rss(ctx.server_pids)

    window.start()
    if procs == 1:

        async def ready(stats: Stats) -> None:
            nonlocal up, setup_s, rss_after
            up, setup_s = stats["sessions"], stats["setup_s"]
            window.stop()
            await asyncio.sleep(SETTLE_S)
            rss_after = servers_rss(ctx.server_pids)
            await asyncio.sleep(hold)

        run_loop(_hold(ctx, range(offset, offset + sessions), concurrency, ready))
    else:
        up, setup_s = _run_children(ctx, sessions, concurrency, hold, offset, procs, window, after_ready)
    per_session = None
    if rss_before is not None and rss_after is not None and up:
        per_session = round((rss_after - rss_before) / up, 1)
    return {
        "scenario": "idle",
        "sessions": up,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_per_session": per_session,
        "setup_s": round(setup_s, 3),
        "procs": procs,
        "nofile_limit": limit,
        **window.result(),
    }


def _run_children(
    ctx: Context,
    sessions: int,
    concurrency: int,
    hold: float,
    offset: int,
    procs: int,
    window: Window,
    after_ready: Callable[[], None],
) -> tuple[int, float]:
    mp = multiprocessing.get_context("fork")
    children: list[tuple[Any, Connection]] = []
    per_proc_concurrency = max(1, math.ceil(concurrency / procs))
    for k in range(procs):
        lo = offset + sessions * k // procs
        hi = offset + sessions * (k + 1) // procs
        parent_end, child_end = mp.Pipe()
        proc = mp.Process(
            target=_child, args=(ctx, range(lo, hi), per_proc_concurrency, child_end), daemon=True
        )
        proc.start()
        child_end.close()
        children.append((proc, parent_end))

    up = 0
    child_cpu = 0.0
    dead: set[int] = set()
    waiting = set(range(procs))
    while waiting:
        for k in list(waiting):
            proc, pipe = children[k]
            if pipe.poll(0.05):
                try:
                    kind, stats = pipe.recv()
                except EOFError:
                    kind, stats = "dead", {}
                if kind == "ready":
                    up += int(stats["sessions"])
                    child_cpu += float(stats["cpu"])
                    waiting.discard(k)
                    continue
                _collect(ctx, kind, stats)
                dead.add(k)
                waiting.discard(k)
            elif not proc.is_alive():
                ctx.errors.add(f"generator process {k} ended before its sessions were up")
                dead.add(k)
                waiting.discard(k)
    setup_s = time.perf_counter() - window.started
    window.extra_gen_cpu = child_cpu
    after_ready()
    time.sleep(hold)
    for k, (_, pipe) in enumerate(children):
        if k not in dead:
            with contextlib.suppress(OSError):
                pipe.send("release")
    for k, (proc, pipe) in enumerate(children):
        if k in dead:
            proc.join(5)
            continue
        try:
            kind, stats = pipe.recv()
        except EOFError:
            ctx.errors.add(f"generator process {k} ended without a report")
            continue
        _collect(ctx, kind, stats)
        proc.join(30)
    return up, setup_s


def _collect(ctx: Context, kind: str, stats: Stats) -> None:
    if kind != "done":
        ctx.errors.add(f"generator process: unexpected report {kind!r}")
        return
    ctx.errors.merge(int(stats.get("errors", 0)), stats.get("samples", []))
    ctx.settings.scram_cache.update(stats.get("cache", {}))
