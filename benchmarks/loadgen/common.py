"""What the scenarios share: the run context, a bounded pool of jobs, opening and closing many sessions."""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .client import Settings, XmppConnection, open_session
from .metrics import ErrorLog

#: File descriptors kept free for everything but the client connections.
FD_MARGIN = 64


@dataclass
class Context:
    settings: Settings
    server_pids: Sequence[int] = ()
    errors: ErrorLog = field(default_factory=ErrorLog)


async def run_pool(count: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
    """Run job(0) ... job(count - 1), at most `concurrency` at a time. Jobs handle their own errors."""
    counter = itertools.count()

    async def worker() -> None:
        for j in counter:
            if j >= count:
                return
            await job(j)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))


def lost_handler(errors: ErrorLog) -> Callable[[XmppConnection], None]:
    """An on_lost callback that counts an established session closed by the server (or the network)."""

    def on_lost(conn: XmppConnection) -> None:
        errors.add(f"{conn.label}: {conn.failure or 'connection lost'}")

    return on_lost


async def open_sessions(
    ctx: Context,
    indices: Sequence[int],
    concurrency: int,
    *,
    presence: bool,
    callbacks: Callable[[int], tuple[Callable[[bytes], None] | None, Callable[[bytes], None] | None]]
    | None = None,
) -> list[XmppConnection | None]:
    """Log in the accounts (position i gets account indices[i]); failed ones are None, and counted."""
    sessions: list[XmppConnection | None] = [None] * len(indices)
    on_lost = lost_handler(ctx.errors)

    async def job(i: int) -> None:
        index = indices[i]
        on_message, on_presence = callbacks(i) if callbacks is not None else (None, None)
        try:
            conn = await open_session(
                ctx.settings,
                index,
                resource=f"lg{i}",
                presence=presence,
                on_message=on_message,
                on_presence=on_presence,
            )
        except Exception as exc:
            ctx.errors.add_exception(f"login {ctx.settings.bare_jid(index)}", exc)
            return
        conn.on_lost = on_lost
        sessions[i] = conn

    await run_pool(len(indices), concurrency, job)
    return sessions


async def open_session_timed(ctx: Context, index: int, resource: str) -> tuple[XmppConnection | None, int]:
    """Log account index in (no presence); the session (None on failure, counted) and nanoseconds taken."""
    t0 = time.perf_counter_ns()
    try:
        conn = await open_session(ctx.settings, index, resource=resource)
    except Exception as exc:
        ctx.errors.add_exception(f"login {ctx.settings.bare_jid(index)}", exc)
        return None, time.perf_counter_ns() - t0
    return conn, time.perf_counter_ns() - t0


async def close_sessions(sessions: Sequence[XmppConnection | None], concurrency: int = 1000) -> None:
    """Close the sessions cleanly; losing them now is no error."""
    live = [conn for conn in sessions if conn is not None]
    for conn in live:
        conn.on_lost = None

    async def job(i: int) -> None:
        try:
            await live[i].close()
        except Exception:
            live[i].abort()

    await run_pool(len(live), concurrency, job)


def raise_nofile_limit(wanted: int = 0) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, or to `wanted` if higher and allowed (a privileged
    process may raise the hard limit too); return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    if soft == infinity:
        return 1 << 30
    target = hard if hard != infinity else max(soft, wanted, 1 << 20)
    if wanted > target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


async def ping_all(ctx: Context, sessions: Sequence[XmppConnection | None], what: str) -> None:
    """A barrier: every session's stanzas sent so far have been processed by the server."""

    async def one(conn: XmppConnection) -> None:
        try:
            await conn.ping()
        except Exception as exc:
            ctx.errors.add_exception(f"{what} {conn.label}", exc)

    await asyncio.gather(*(one(conn) for conn in sessions if conn is not None and conn.alive))
