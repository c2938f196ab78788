"""The presence scenario: users with mutually subscribed contacts going offline and online.

Setup (not measured): the users, in groups of roster + 1, are all subscribed to each other within their group
(roster set, then subscribe both ways, then subscribed both ways), unless their rosters already say so (from an
earlier run). All users log in with initial presence. Measured: for `duration` seconds, at most `inflight` users at
a time send unavailable presence then available presence again (a new initial presence: the server broadcasts it
and probes the contacts); a toggle ends when every online contact has received available presence from the user
since it began. Every presence stanza any user receives in the window is counted.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from .client import PRESENCE, UNAVAILABLE, XmppConnection, roster_get, roster_item
from .common import Context, close_sessions, open_sessions, run_pool
from .metrics import Window, per_cpu
from .scanner import attribute, is_error

SETUP, MEASURE, STOPPED = 0, 1, 2
SETUP_ROUND_S = 120.0  # how long a subscription round may take to show in the rosters (plus --timeout)


def groups_of(users: int, roster: int) -> list[range]:
    size = roster + 1
    return [range(start, min(start + size, users)) for start in range(0, users, size)]


async def presence(
    ctx: Context,
    users: int,
    roster: int,
    duration: float,
    concurrency: int = 50,
    inflight: int = 20,
    offset: int = 0,
) -> dict[str, object]:
    settings = ctx.settings
    errors = ctx.errors
    phase = SETUP
    delivered = 0
    jids = [settings.bare_jid(offset + u) for u in range(users)]
    index_of = {jid.encode(): u for u, jid in enumerate(jids)}
    # A toggle (or the initial presence) of user u is done when each contact in awaited[u] has received available
    # presence from u since: by u's broadcast, or by the answer to the contact's own probe if it was toggling too.
    awaited: dict[int, tuple[set[int], asyncio.Future[None]]] = {}

    def make_on_presence(v: int) -> Callable[[bytes], None]:
        def on_presence(raw: bytes) -> None:
            nonlocal delivered
            if phase == MEASURE:
                delivered += 1
            gt = raw.find(b">")
            if raw.find(b"type=", 0, gt) >= 0:
                if is_error(raw):
                    errors.add(f"presence error: {raw[:300]!r}")
                return  # unavailable, or a subscription: not what a toggle waits for
            sender = attribute(raw, b"from")
            if sender is None:
                return
            u = index_of.get(sender.partition(b"/")[0], -1)
            entry = awaited.get(u)
            if entry is not None and v in entry[0]:
                entry[0].discard(v)
                if not entry[0] and not entry[1].done():
                    entry[1].set_result(None)

        return on_presence

    sessions = await open_sessions(
        ctx,
        [offset + u for u in range(users)],
        concurrency,
        presence=False,
        callbacks=lambda v: (None, make_on_presence(v)),
    )
    groups = groups_of(users, roster)

    async def rosters(among: list[int], polling: bool = False) -> list[dict[str, str] | None]:
        """The rosters of these users; a failure while polling is no error (the next poll asks again)."""
        out: list[dict[str, str] | None] = [None] * users

        async def job(i: int) -> None:
            conn = sessions[among[i]]
            if conn is None:
                return
            try:
                out[among[i]] = await roster_get(conn)
            except Exception as exc:
                if not polling:
                    errors.add_exception(f"roster get {conn.label}", exc)

        await run_pool(len(among), concurrency, job)
        return out

    group_of = {u: group for group in groups for u in group}

    def contacts_in(u: int, items: dict[str, str] | None, states: tuple[str, ...]) -> bool:
        return items is not None and all(items.get(jids[c]) in states for c in group_of[u] if c != u)

    everyone = [u for u in range(users) if sessions[u] is not None]
    current = await rosters(everyone)
    todo = [g for g in groups if not all(contacts_in(u, current[u], ("both",)) for u in g)]
    members = [u for g in todo for u in g if sessions[u] is not None]
    if members:
        await _roster_set(ctx, sessions, members, group_of, jids, current, concurrency)
        # Subscription stanzas may take effect after later stanzas of the same stream are answered (servers
        # process them asynchronously), so each round waits until the rosters show its effect.
        rounds = (
            ("subscribe", ("none pending", "to", "both", "from pending")),
            ("subscribed", ("both",)),
        )
        for kind, states in rounds:
            for u in members:
                conn = sessions[u]
                if conn is not None:
                    conn.send(
                        b"".join(
                            f"<presence type='{kind}' to='{jids[c]}'/>".encode()
                            for c in group_of[u]
                            if c != u
                        )
                    )
            # A busy server may take a while: poll gently (every second at most), within a generous deadline.
            waiting = members
            deadline = time.perf_counter() + SETUP_ROUND_S + settings.timeout
            while waiting and time.perf_counter() < deadline:
                await asyncio.sleep(1.0)
                current = await rosters(waiting, polling=True)
                waiting = [u for u in waiting if not contacts_in(u, current[u], states)]
            await asyncio.sleep(0.5)
    final = await rosters(everyone)
    ready = 0
    for u in everyone:
        if contacts_in(u, final[u], ("both",)):
            ready += 1
        else:
            items = final[u] or {}
            seen = {jids[c]: items.get(jids[c]) for c in group_of[u] if c != u}
            errors.add(f"{jids[u]}: not subscribed with its whole group: {seen}")

    live = [u for u in range(users) if sessions[u] is not None]
    live_set = set(live)
    loop = asyncio.get_running_loop()

    def expect(u: int) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = loop.create_future()
        targets = {c for c in group_of[u] if c != u and c in live_set}
        awaited[u] = (targets, waiter)
        if not targets:
            waiter.set_result(None)
        return waiter

    # All users online: wait until everyone's initial presence has reached its contacts.
    initial = [expect(u) for u in live]
    for u in live:
        conn = sessions[u]
        assert conn is not None
        conn.send(PRESENCE)
    try:
        async with asyncio.timeout(settings.timeout):
            await asyncio.gather(*initial)
    except TimeoutError:
        missing = sum(1 for waiter in initial if not waiter.done())
        errors.add(f"initial presence of {missing} users did not reach all their contacts")
    awaited.clear()
    await asyncio.sleep(0.5)

    busy: set[int] = set()
    toggles = 0
    picker = itertools.cycle(live)

    async def toggler() -> None:
        nonlocal toggles
        while phase == MEASURE:
            u = next(picker)
            for _ in range(len(live)):
                if u not in busy:
                    break
                u = next(picker)
            else:
                await asyncio.sleep(0.01)
                continue
            conn = sessions[u]
            assert conn is not None
            if not conn.alive:
                await asyncio.sleep(0.01)
                continue
            busy.add(u)
            waiter = expect(u)
            conn.send(UNAVAILABLE + PRESENCE)
            try:
                async with asyncio.timeout(settings.timeout):
                    await waiter
            except TimeoutError:
                errors.add(f"toggle of {conn.label}: its presence did not reach all contacts in time")
            finally:
                awaited.pop(u, None)
                busy.discard(u)
            if phase == MEASURE:
                toggles += 1

    window = Window(ctx.server_pids)
    tasks: list[asyncio.Task[None]] = []
    window.start()
    phase = MEASURE
    if live:
        tasks = [asyncio.create_task(toggler()) for _ in range(max(1, min(inflight, len(live))))]
    await asyncio.sleep(duration)
    phase = STOPPED
    window.stop()
    counted = delivered
    await asyncio.gather(*tasks)
    await close_sessions(sessions)
    wall = window.wall
    return {
        "scenario": "presence",
        "users": len(live),
        "roster": roster,
        "delivered": counted,
        "rate": round(counted / wall, 2) if wall > 0 else None,
        "per_server_cpu_s": per_cpu(counted, window.server_cpu),
        "toggles": toggles,
        "inflight": inflight,
        "groups_set_up": len(todo),
        "subscribed_users": ready,
        **window.result(),
    }


async def _roster_set(
    ctx: Context,
    sessions: list[XmppConnection | None],
    members: list[int],
    group_of: dict[int, range],
    jids: list[str],
    rosters: list[dict[str, str] | None],
    concurrency: int,
) -> None:
    """Add each member's missing group contacts to its roster (one roster set per item, RFC 6121 2.3)."""

    async def job(i: int) -> None:
        u = members[i]
        conn = sessions[u]
        assert conn is not None
        items = rosters[u] or {}
        for c in group_of[u]:
            if c != u and jids[c] not in items:
                try:
                    answer = await conn.iq("set", roster_item(jids[c], "loadgen"))
                except Exception as exc:
                    ctx.errors.add_exception(f"roster set {conn.label}", exc)
                    return
                if is_error(answer):
                    ctx.errors.add(f"roster set {conn.label}: {answer[:300]!r}")

    await run_pool(len(members), concurrency, job)
