"""The offline scenario: messages stored for offline users, then delivered when they log in.

Accounts: the sender is `offset`, the recipients offset + 1 .. offset + recipients (registered first, an existing
account being fine). Each recipient first logs in once and out again, to empty a queue left by an earlier run.
Store phase: the sender sends `messages` messages to the recipients' bare JIDs, round robin, with a ping after
every 100 (and after the last) and at most `window` messages before an unanswered ping;
stored_rate = messages / time to the last ping's answer. Backlog phase: all recipients log in with initial
presence; backlog_s runs from the first login to the last message received.

A server may answer the ping before it has stored the messages sent ahead of it (xmppd commits them in the
background, in shared transactions), so with the server's pid known the store phase ends only once the server
is quiet too: the first QUIET_PROBE_S in which it used less than QUIET_CPU of a core marks the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence

from .client import XmppConnection, XmppError, open_session, register_account
from .common import Context, close_sessions, lost_handler, open_sessions, run_pool
from .metrics import Window, per_cpu, servers_cpu
from .msg import message_template
from .scanner import TOKEN_MARK, is_error

BATCH = 100
PING = "<ping xmlns='urn:xmpp:ping'/>"
QUIET_S = 0.5  # no message for this long after a barrier: the queue is drained
BACKLOG_IDLE_S = 10.0  # no progress for this long while messages are missing: stop waiting
QUIET_PROBE_S = 0.02  # the server used less than QUIET_CPU of a core for this long: its work is done
QUIET_CPU = 0.1


async def offline(
    ctx: Context,
    recipients: int,
    messages: int,
    window: int = 1000,
    concurrency: int = 50,
    offset: int = 500000,
    register: bool = True,
) -> dict[str, object]:
    settings = ctx.settings
    errors = ctx.errors
    run_start = time.perf_counter_ns()  # tokens of earlier runs carry smaller (machine-wide monotonic) times
    sender_index = offset
    rcpt_indices = [offset + 1 + j for j in range(recipients)]

    if register:

        async def reg(i: int) -> None:
            index = sender_index if i == 0 else rcpt_indices[i - 1]
            try:
                await register_account(settings, index)
            except Exception as exc:  # maybe registration is closed and the accounts exist: logins will tell
                print(f"warning: registering {settings.bare_jid(index)}: {exc}", file=sys.stderr)

        await run_pool(recipients + 1, concurrency, reg)

    # Empty the recipients' queues.
    drained = 0
    last_arrival = time.perf_counter()

    def count_drained(raw: bytes) -> None:
        nonlocal drained, last_arrival
        drained += 1
        last_arrival = time.perf_counter()

    first = await open_sessions(
        ctx, rcpt_indices, concurrency, presence=True, callbacks=lambda _: (count_drained, None)
    )
    for conn in first:
        if conn is not None:
            conn.on_lost = None
    await _quiet(first, lambda: last_arrival)
    await close_sessions(first)
    await asyncio.sleep(0.5)

    # Store phase.
    received = bytearray(messages)
    delivered = duplicates = reordered = stale = 0
    last_receive = 0.0
    last_seq = [-1] * recipients  # per recipient: the highest message number received so far

    def on_message(raw: bytes) -> None:
        nonlocal delivered, duplicates, reordered, last_receive, stale
        i = raw.find(TOKEN_MARK)
        if i < 0:
            return
        if is_error(raw):
            errors.add(f"message bounced: {raw[:300]!r}")
            return
        rcpt = int(raw[i + 3 : i + 9])
        seq = int(raw[i + 10 : i + 20])
        if int(raw[i + 21 : i + 40]) < run_start:
            stale += 1  # from an earlier run
            return
        if 0 <= seq < messages and not received[seq]:
            received[seq] = 1
            delivered += 1
            last_receive = time.perf_counter()
            if 0 <= rcpt < recipients:
                if seq < last_seq[rcpt]:
                    reordered += 1  # XMPP keeps the order of one sender's messages to one recipient
                else:
                    last_seq[rcpt] = seq
        else:
            duplicates += 1

    def on_sender_message(raw: bytes) -> None:
        if is_error(raw):
            errors.add(f"message bounced: {raw[:300]!r}")

    store = Window(ctx.server_pids)
    stored_ok = False
    sender: XmppConnection | None = None
    try:
        sender = await open_session(
            settings, sender_index, resource="lg-sender", on_message=on_sender_message
        )
    except Exception as exc:
        errors.add_exception(f"login {settings.bare_jid(sender_index)}", exc)
    store.start()
    if sender is not None:
        sender.on_lost = lost_handler(errors)
        templates = [message_template(settings.bare_jid(index), j) for j, index in enumerate(rcpt_indices)]
        try:
            await _store(sender, templates, messages, window)
            stored_ok = True
        except (XmppError, TimeoutError, OSError) as exc:
            errors.add_exception("store", exc)
    store.stop(at=await _server_quiet(ctx.server_pids, settings.timeout))
    if sender is not None:
        await close_sessions([sender])

    # Backlog phase.
    backlog = Window(ctx.server_pids)
    backlog.start()
    t_first_login = time.perf_counter()
    sessions = await open_sessions(
        ctx, rcpt_indices, concurrency, presence=True, callbacks=lambda _: (on_message, None)
    )
    progress_at = time.perf_counter()
    seen = delivered
    while delivered < messages:
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        if delivered != seen:
            seen, progress_at = delivered, now
        elif now - progress_at > BACKLOG_IDLE_S or not any(c is not None and c.alive for c in sessions):
            break
    backlog.stop()
    backlog_s = (last_receive - t_first_login) if delivered else None
    await close_sessions(sessions)

    store_s = store.wall
    server_cpu = None
    if store.server_cpu is not None and backlog.server_cpu is not None:
        server_cpu = store.server_cpu + backlog.server_cpu
    gen_cpu = store.gen_cpu + backlog.gen_cpu
    wall = store.wall + backlog.wall
    return {
        "scenario": "offline",
        "recipients": recipients,
        "messages": messages,
        "stored_rate": round(messages / store_s, 2) if stored_ok and store_s > 0 else None,
        "store_s": round(store_s, 4),
        "backlog_s": round(backlog_s, 4) if backlog_s is not None else None,
        "backlog_rate": round(delivered / backlog_s, 2) if backlog_s else None,
        "delivered": delivered,
        "lost": messages - delivered,
        "duplicates": duplicates,
        "reordered": reordered,
        "drained_before": drained,
        "stale": stale,
        "store_server_cpu_s": round(store.server_cpu, 4) if store.server_cpu is not None else None,
        "backlog_server_cpu_s": round(backlog.server_cpu, 4) if backlog.server_cpu is not None else None,
        "stored_per_server_cpu_s": per_cpu(messages, store.server_cpu),
        "gen_cpu_s": round(gen_cpu, 4),
        "gen_cpu_fraction": round(gen_cpu / wall, 4) if wall > 0 else None,
        "server_cpu_s": round(server_cpu, 4) if server_cpu is not None else None,
        "wall_s": round(wall, 4),
    }


async def _server_quiet(pids: Sequence[int], timeout: float) -> float:
    """When the servers became quiet (see the module docstring): now, without their pids or after ``timeout``."""
    deadline = time.perf_counter() + timeout
    while pids and time.perf_counter() < deadline:
        start, cpu = time.perf_counter(), servers_cpu(pids)
        await asyncio.sleep(QUIET_PROBE_S)
        used = servers_cpu(pids)
        if cpu is None or used is None or used - cpu < QUIET_CPU * (time.perf_counter() - start):
            return start
    return time.perf_counter()


async def _store(sender: XmppConnection, templates: list[bytes], messages: int, window: int) -> None:
    """Send the messages round robin over the templates, a ping after each BATCH, at most `window` unanswered."""
    pending: deque[asyncio.Future[bytes]] = deque()
    count = len(templates)
    timeout = sender.settings.timeout
    for start in range(0, messages, BATCH):
        t = time.perf_counter_ns()
        data = b"".join(templates[k % count] % (k, k, t) for k in range(start, min(start + BATCH, messages)))
        sender.send(data)
        pending.append(sender.iq_nowait("get", PING))
        while len(pending) * BATCH > max(window, BATCH):
            async with asyncio.timeout(timeout):
                _check_ping(await pending.popleft())
    while pending:
        async with asyncio.timeout(timeout):
            _check_ping(await pending.popleft())


def _check_ping(answer: bytes) -> None:
    if is_error(answer):
        raise XmppError(f"ping failed: {answer[:200]!r}")


async def _quiet(sessions: list[XmppConnection | None], last_arrival: Callable[[], float]) -> None:
    """Wait until the sessions have answered a ping and no message came for QUIET_S."""
    live = [conn for conn in sessions if conn is not None and conn.alive]
    await asyncio.gather(*(conn.ping() for conn in live), return_exceptions=True)
    while time.perf_counter() - last_arrival() < QUIET_S:
        await asyncio.sleep(0.05)
