"""The msg scenario: one-to-one chat messages between pairs of online sessions.

Pair i is (account 2i, account 2i+1), offset by `offset`; both members send to the other's full JID. Each
message body carries a token (sender, sequence number, send time): the receiver finds it with one bytes.find,
measures the latency, and tracks the sequence numbers of each sender to count losses and duplicates (XMPP keeps
the order of stanzas between two entities, so a number above the next one expected marks a gap, and one below
is either a late arrival from a gap or a duplicate).

Window mode: each sender keeps at most W messages in flight; every message received lets its sender send
another (written in one batch per chunk of received bytes). Rate mode: R messages per second in all, sent on a
paced schedule that goes round the senders (message k at start + k/R, from sender k mod senders).
Before that, each sender sends one message alone and the run waits for all of them (a server's once-per-session
work on a first stanza is not the steady state). The first `warmup` seconds are not measured; then `duration`
seconds are; then sending stops and the generator waits (up to 10 s) for the messages still on their way.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable

from .common import Context, close_sessions, open_sessions, ping_all
from .metrics import Window, latency_ms, per_cpu
from .scanner import TOKEN_LEN, TOKEN_MARK

PRIME, WARMUP, MEASURE, STOPPED = 0, 1, 2, 3
BODY_SIZE = 100
DRAIN_S = 10.0
TICK_S = 0.001


def _attr_escape(value: str) -> bytes:
    return value.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;").encode()


def message_template(peer_jid: str, sender: int, body_size: int = BODY_SIZE) -> bytes:
    """The message from `sender` to `peer_jid`, to be filled with (seq, seq, send time ns)."""
    pad = b"x" * max(0, body_size - TOKEN_LEN)
    return (
        b"<message type='chat' to='"
        + _attr_escape(peer_jid)
        + b"' id='%d'><body>"
        + TOKEN_MARK
        + b"%06d" % sender
        + b".%010d.%019d~"
        + pad
        + b"</body></message>"
    )


async def msg(
    ctx: Context,
    pairs: int,
    duration: float,
    window: int | None = None,
    rate: float | None = None,
    warmup: float = 2.0,
    concurrency: int = 50,
    offset: int = 0,
) -> dict[str, object]:
    if (window is None) == (rate is None):
        raise ValueError("give either a window or a rate")
    window_mode = window is not None
    n = 2 * pairs
    errors = ctx.errors

    send_seq = [0] * n  # next sequence number each sender sends
    inflight = [0] * n
    recv_next = [0] * n  # next sequence number expected from each sender
    missing: list[set[int] | None] = [None] * n
    m0 = [0] * n  # first sequence number of each sender sent in the measured window
    m1 = [0] * n  # one past the last
    latencies = array("q")
    lat_append = latencies.append
    phase = PRIME
    delivered = duplicates = received = other = reordered = 0
    perf_ns = time.perf_counter_ns
    run_start = perf_ns()  # the monotonic clock is the machine's: earlier runs' tokens carry smaller times

    def make_handlers(r: int) -> tuple[Callable[[bytes], None], Callable[[], None]]:
        peer = r ^ 1
        owed = 0  # messages received from peer in this chunk: the peer may send as many again

        def on_message(raw: bytes) -> None:
            nonlocal delivered, duplicates, received, other, owed, reordered
            i = raw.find(TOKEN_MARK)
            if i < 0:
                other += 1
                return
            gt = raw.find(b">")
            if raw.find(b"'error'", 0, gt) >= 0 or raw.find(b'"error"', 0, gt) >= 0:
                errors.add(f"session {r}: message bounced: {raw[:300]!r}")
                return
            now = perf_ns()
            sender = int(raw[i + 3 : i + 9])
            seq = int(raw[i + 10 : i + 20])
            sent_at = int(raw[i + 21 : i + 40])
            if sent_at < run_start or sender >= n:
                other += 1  # from an earlier run (kept offline for this account, say)
                return
            expected = recv_next[sender]
            if seq == expected:
                recv_next[sender] = seq + 1
            elif seq > expected:
                gap = missing[sender]
                if gap is None:
                    gap = missing[sender] = set()
                gap.update(range(expected, seq))
                recv_next[sender] = seq + 1
            else:
                gap = missing[sender]
                if gap is not None and seq in gap:
                    gap.discard(seq)
                    reordered += 1
                else:
                    duplicates += 1
                    return
            received += 1
            if phase == MEASURE:
                delivered += 1
                lat_append(now - sent_at)
            if window_mode:
                inflight[sender] -= 1
                if WARMUP <= phase <= MEASURE:
                    owed += 1

        def on_batch_end() -> None:
            nonlocal owed
            if owed:
                count, owed = owed, 0
                send(peer, count, perf_ns())

        return on_message, on_batch_end

    handlers = [make_handlers(r) for r in range(n)]
    indices = [offset + r for r in range(n)]
    sessions = await open_sessions(
        ctx, indices, concurrency, presence=True, callbacks=lambda r: (handlers[r][0], None)
    )
    # Only pairs whose two sessions are up take part.
    senders = [r for r in range(n) if sessions[r] is not None and sessions[r ^ 1] is not None]
    conns = [conn.transport if conn is not None else None for conn in sessions]
    sender_set = set(senders)
    templates: list[bytes] = []
    for r in range(n):
        peer_conn = sessions[r ^ 1]
        ok = r in sender_set and peer_conn is not None
        templates.append(message_template(peer_conn.jid, r) if ok and peer_conn is not None else b"")
    if window_mode:
        for r in senders:
            conn = sessions[r]
            assert conn is not None
            conn.on_batch_end = handlers[r][1]

    def send(s: int, count: int, t: int) -> None:
        q0 = send_seq[s]
        template = templates[s]
        data = (
            template % (q0, q0, t)
            if count == 1
            else b"".join([template % (q, q, t) for q in range(q0, q0 + count)])
        )
        send_seq[s] = q0 + count
        inflight[s] += count
        transport = conns[s]
        if transport is not None and not transport.is_closing():
            transport.write(data)

    await ping_all(ctx, sessions, "settle")
    await asyncio.sleep(0.5)

    async def pacer(total_rate: float) -> None:
        count = len(senders)
        per_ns = total_rate / 1e9
        k = 0
        t0 = perf_ns()
        while phase != STOPPED:
            now = perf_ns()
            due = int((now - t0) * per_ns)
            if due > k:
                batch: dict[int, int] = {}
                for q in range(k, due):
                    s = senders[q % count]
                    batch[s] = batch.get(s, 0) + 1
                for s, c in batch.items():
                    send(s, c, now)
                k = due
            # Sleep until the next message is due, but at least a tick (the event loop's timers count whole
            # milliseconds: shorter sleeps would spin).
            wait_ns = t0 + int((k + 1) / per_ns) - perf_ns()
            await asyncio.sleep(max(TICK_S, wait_ns / 1e9))

    measured = Window(ctx.server_pids)
    pacer_task: asyncio.Task[None] | None = None
    if senders:
        # Each sender's first message goes alone, and must arrive before the warm-up starts: a server may do
        # some work once per session on its first stanza (load its block list...), which is not the steady state.
        now = perf_ns()
        for s in senders:
            send(s, 1, now)
        deadline = time.perf_counter() + ctx.settings.timeout
        while time.perf_counter() < deadline and not all(recv_next[s] for s in senders):
            await asyncio.sleep(0.01)
        slow = sum(1 for s in senders if not recv_next[s])
        if slow:
            errors.add(f"the first message of {slow} senders did not arrive within {ctx.settings.timeout} s")
        for s in senders:
            inflight[s] = 0
        phase = WARMUP
        if window is not None:
            now = perf_ns()
            for s in senders:
                send(s, window, now)
        else:
            assert rate is not None
            pacer_task = asyncio.create_task(pacer(rate))
        await asyncio.sleep(warmup)
        for s in senders:
            m0[s] = send_seq[s]
        measured.start()
        phase = MEASURE
        await asyncio.sleep(duration)
        phase = STOPPED
        measured.stop()
        for s in senders:
            m1[s] = send_seq[s]
        if pacer_task is not None:
            await pacer_task
        deadline = time.perf_counter() + DRAIN_S
        while time.perf_counter() < deadline:
            if all(recv_next[s] == send_seq[s] and not missing[s] for s in senders):
                break
            await asyncio.sleep(0.02)
    else:
        measured.start()
        measured.stop()
        errors.add("no pair of sessions is up")

    lost = 0
    sent = 0
    for s in senders:
        lo, hi = m0[s], m1[s]
        sent += hi - lo
        gap = missing[s]
        if gap:
            lost += sum(1 for q in gap if lo <= q < hi)
        lost += max(0, hi - max(recv_next[s], lo))
    await close_sessions(sessions)

    wall = measured.wall
    result: dict[str, object] = {
        "scenario": "msg",
        "mode": "window" if window_mode else "rate",
        "pairs": len(senders) // 2,
        "sent": sent,
        "delivered": delivered,
        "lost": lost,
        "duplicates": duplicates,
        "reordered": reordered,
        "rate": round(delivered / wall, 2) if wall > 0 else None,
        "per_server_cpu_s": per_cpu(delivered, measured.server_cpu),
        "latency_ms": latency_ms(latencies, (50, 90, 99)),
        "warmup_s": warmup,
        "duration_s": duration,
        "unexpected_messages": other,
    }
    if window_mode:
        result["window"] = window
    else:
        result["target_rate"] = rate
    result.update(measured.result())
    return result
