"""The ``OfflineStore`` contract, on every backend."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.storage.conftest import Backend
from xmppd.errors import StorageError
from xmppd.storage import Storage
from xmppd.storage.offline import OfflineMessage

HOST = "example.org"
OTHER_HOST = "other.example"
LIMIT = 100
T0 = 1_700_000_000_000_000_000  # nanoseconds since the epoch, November 2023


def message(n: int) -> bytes:
    return f"<message xmlns='jabber:client' to='juliet@example.org'><body>{n}</body></message>".encode()


async def stored(storage: Storage, host: str, username: str) -> list[tuple[int, bytes]]:
    """(stamp, stanza) of every kept message, in the order fetch gives them."""
    return [(m.stamp, m.stanza) for m in await storage.offline.fetch(host, username)]


# -- storing and fetching ------------------------------------------------------------------------------------


async def test_a_user_without_messages(storage: Storage) -> None:
    assert await storage.offline.count(HOST, "juliet") == 0
    assert await storage.offline.fetch(HOST, "juliet") == []
    assert await storage.offline.delete(HOST, "juliet", []) == 0
    assert await storage.offline.delete(HOST, "juliet", [1, 2, 3]) == 0
    assert await storage.offline.delete_user(HOST, "juliet") == 0


async def test_store_then_fetch(storage: Storage) -> None:
    assert await storage.offline.store(HOST, "juliet", T0, message(1), LIMIT) is True
    [kept] = await storage.offline.fetch(HOST, "juliet")
    assert isinstance(kept, OfflineMessage) and type(kept.id) is int and type(kept.stamp) is int
    assert kept == OfflineMessage(kept.id, T0, message(1))
    assert type(kept.stanza) is bytes
    assert await storage.offline.count(HOST, "juliet") == 1


async def test_fetch_does_not_remove(storage: Storage) -> None:
    await storage.offline.store(HOST, "juliet", T0, message(1), LIMIT)
    first = await storage.offline.fetch(HOST, "juliet")
    assert await storage.offline.fetch(HOST, "juliet") == first
    assert await storage.offline.count(HOST, "juliet") == 1


async def test_messages_come_ordered_by_stamp_then_by_order_of_storing(storage: Storage) -> None:
    # Stamps out of order (another process's clock), and ties, which storing order breaks.
    stamps = [T0 + 30, T0 + 10, T0 + 20, T0 + 10, T0 + 30, T0 + 10]
    for n, stamp in enumerate(stamps):
        assert await storage.offline.store(HOST, "juliet", stamp, message(n), LIMIT)
    fetched = await storage.offline.fetch(HOST, "juliet")
    assert [(m.stamp, m.stanza) for m in fetched] == [
        (T0 + 10, message(1)),
        (T0 + 10, message(3)),
        (T0 + 10, message(5)),
        (T0 + 20, message(2)),
        (T0 + 30, message(0)),
        (T0 + 30, message(4)),
    ]
    assert fetched == sorted(fetched, key=lambda m: (m.stamp, m.id))


async def test_ids_are_unique_and_increase_in_the_order_of_storing(storage: Storage) -> None:
    # Across users and hosts: unique within the store.
    for n in range(4):
        for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet")):
            await storage.offline.store(host, user, T0 - n, message(n), LIMIT)
    ids_by_user = [
        [m.id for m in sorted(await storage.offline.fetch(host, user), key=lambda m: m.stanza)]
        for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet"))
    ]
    every_id = [i for ids in ids_by_user for i in ids]
    assert len(set(every_id)) == 12
    # message(n) was stored in round n, so ids grow with n for each user, and across users in storing order.
    for ids in ids_by_user:
        assert ids == sorted(ids)
    assert [ids[n] for n in range(4) for ids in ids_by_user] == sorted(every_id)


async def test_an_id_is_never_handed_out_twice(storage: Storage) -> None:
    # A client that delivered message N deletes it by its id: a message stored after N was deleted must not
    # get N's id, or a late delete of N would take it (SQLite reuses the largest rowid without AUTOINCREMENT).
    for n in range(3):
        await storage.offline.store(HOST, "juliet", T0 + n, message(n), LIMIT)
    ids = [m.id for m in await storage.offline.fetch(HOST, "juliet")]
    assert await storage.offline.delete(HOST, "juliet", [ids[-1]]) == 1
    await storage.offline.delete_user(HOST, "juliet")
    await storage.offline.store(HOST, "juliet", T0, message(9), LIMIT)
    [new] = await storage.offline.fetch(HOST, "juliet")
    assert new.id > max(ids)


@pytest.mark.parametrize("stamp", [0, 1, T0, time.time_ns(), 2**63 - 1], ids=str)
async def test_stamps_are_kept_to_the_nanosecond(storage: Storage, stamp: int) -> None:
    await storage.offline.store(HOST, "juliet", stamp, b"<message/>", LIMIT)
    assert await stored(storage, HOST, "juliet") == [(stamp, b"<message/>")]


async def test_stanzas_are_bytes_kept_exactly(storage: Storage) -> None:
    stanzas = [
        bytes(range(256)),
        b"",
        b"\x00",
        "<message><body>\u00e7a va \U0001f600</body></message>".encode(),
        os.urandom(256 * 1024),
    ]
    for n, stanza in enumerate(stanzas):
        await storage.offline.store(HOST, "juliet", T0 + n, stanza, LIMIT)
    assert await stored(storage, HOST, "juliet") == [(T0 + n, stanza) for n, stanza in enumerate(stanzas)]

    # What a caller holding a buffer may pass: what was stored must not change with it.
    source = bytearray(b"original")
    await storage.offline.store(HOST, "romeo", T0, source, LIMIT)  # type: ignore[arg-type]
    source[:] = b"changed!"
    assert await stored(storage, HOST, "romeo") == [(T0, b"original")]


# -- the limit -----------------------------------------------------------------------------------------------


async def test_store_refuses_when_the_user_has_limit_messages(storage: Storage) -> None:
    for n in range(3):
        assert await storage.offline.store(HOST, "juliet", T0 + n, message(n), 3) is True
    assert await storage.offline.store(HOST, "juliet", T0 + 3, message(3), 3) is False
    assert await storage.offline.count(HOST, "juliet") == 3
    assert await stored(storage, HOST, "juliet") == [(T0 + n, message(n)) for n in range(3)]

    # A higher limit lets more in; a lower one than what is kept refuses and removes nothing.
    assert await storage.offline.store(HOST, "juliet", T0 + 4, message(4), 4) is True
    assert await storage.offline.store(HOST, "juliet", T0 + 5, message(5), 2) is False
    assert await storage.offline.count(HOST, "juliet") == 4

    # Room again once a message is gone.
    [first, *_] = await storage.offline.fetch(HOST, "juliet")
    assert await storage.offline.delete(HOST, "juliet", [first.id]) == 1
    assert await storage.offline.store(HOST, "juliet", T0 + 6, message(6), 4) is True
    assert await storage.offline.store(HOST, "juliet", T0 + 7, message(7), 4) is False


async def test_a_limit_of_zero_or_less_stores_nothing(storage: Storage) -> None:
    assert await storage.offline.store(HOST, "juliet", T0, message(0), 0) is False
    assert await storage.offline.store(HOST, "juliet", T0, message(0), -1) is False
    assert await storage.offline.count(HOST, "juliet") == 0
    assert await storage.offline.fetch(HOST, "juliet") == []


async def test_the_limit_counts_only_that_users_messages(storage: Storage) -> None:
    for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet")):
        for n in range(2):
            assert await storage.offline.store(host, user, T0 + n, message(n), 2) is True
        assert await storage.offline.store(host, user, T0 + 2, message(2), 2) is False
    assert await storage.offline.store(HOST, "nurse", T0, message(0), 1) is True


async def test_concurrent_stores_never_exceed_the_limit(storage: Storage) -> None:
    await storage.offline.store(HOST, "juliet", T0, message(0), LIMIT)
    results = await asyncio.gather(
        *(storage.offline.store(HOST, "juliet", T0 + n, message(n), 10) for n in range(1, 41)),
        *(storage.offline.store(HOST, "romeo", T0 + n, message(n), 5) for n in range(20)),
    )
    assert results[:40].count(True) == 9
    assert results[40:].count(True) == 5
    assert await storage.offline.count(HOST, "juliet") == 10
    assert await storage.offline.count(HOST, "romeo") == 5
    assert len(await storage.offline.fetch(HOST, "juliet")) == 10


async def test_concurrent_stores_are_decided_and_kept_in_the_order_they_were_made(storage: Storage) -> None:
    # On SQL they share a transaction: the limit counts what the same transaction took before each message.
    for n in range(4):
        await storage.offline.store(HOST, "juliet", T0, message(n), LIMIT)
    results = await asyncio.gather(
        *(
            storage.offline.store(HOST, user, T0, message(n), limit)
            for n in range(4, 34)
            for user, limit in (("juliet", 10), ("romeo", 3), ("nurse", 0))
        )
    )
    assert results[0::3] == [True] * 6 + [False] * 24
    assert results[1::3] == [True] * 3 + [False] * 27
    assert results[2::3] == [False] * 30
    # Equal stamps: the order of storing decides, and it is the order of the calls.
    assert await stored(storage, HOST, "juliet") == [(T0, message(n)) for n in range(10)]
    assert await stored(storage, HOST, "romeo") == [(T0, message(n)) for n in range(4, 7)]
    assert await storage.offline.count(HOST, "nurse") == 0


async def test_concurrent_stores_share_transactions_and_each_is_committed_when_it_returns(
    sql_backend: Backend, commits: list[int]
) -> None:
    async with await sql_backend.open() as first, await sql_backend.open() as second:
        found: list[bool] = []

        async def store(n: int) -> None:
            assert await first.offline.store(HOST, f"user{n % 7}", T0 + n, message(n), LIMIT)
            # Another connection (another process, say) sees it at once.
            found.append(message(n) in [m.stanza for m in await second.offline.fetch(HOST, f"user{n % 7}")])

        commits.clear()
        await asyncio.gather(*(store(n) for n in range(100)))
        assert found == [True] * 100
        assert len(commits) == 1  # every store was queued before the first transaction began
        assert sum([await second.offline.count(HOST, f"user{u}") for u in range(7)]) == 100


async def test_a_failed_commit_fails_every_store_of_its_batch_and_keeps_none(
    sql_backend: Backend, failing_commits: list[int]
) -> None:
    async with await sql_backend.open() as storage:
        failing_commits.append(1)
        results = await asyncio.gather(
            *(
                storage.offline.store(HOST, user, T0 + n, message(n), LIMIT)
                for n in range(20)
                for user in "ab"
            ),
            return_exceptions=True,
        )
        assert all(isinstance(result, StorageError) for result in results)
        assert await storage.offline.count(HOST, "a") == await storage.offline.count(HOST, "b") == 0
        # Nothing stuck: the next ones are kept.
        assert await asyncio.gather(
            *(storage.offline.store(HOST, "a", T0, message(n), 2) for n in range(3))
        ) == [
            True,
            True,
            False,
        ]
        assert await stored(storage, HOST, "a") == [(T0, message(0)), (T0, message(1))]


async def test_batches_for_many_users_from_separate_connections_do_not_deadlock(sql_backend: Backend) -> None:
    # Each batch locks every user it holds (on PostgreSQL); two processes' batches take them in one order.
    users = [f"user{n}" for n in range(40)]
    async with await sql_backend.open() as first, await sql_backend.open() as second:
        for _ in range(3):
            results = await asyncio.gather(
                *(first.offline.store(HOST, user, T0, message(0), 6) for user in users),
                *(second.offline.store(HOST, user, T0, message(1), 6) for user in reversed(users)),
            )
            assert results == [True] * 80
        assert [await first.offline.count(HOST, user) for user in users] == [6] * 40


async def test_concurrent_stores_from_separate_connections_never_exceed_the_limit(
    sql_backend: Backend,
) -> None:
    # Two storages on one database stand for two server processes (or cluster nodes).
    async with await sql_backend.open() as first, await sql_backend.open() as second:
        results = await asyncio.gather(
            *(
                store.offline.store(HOST, "juliet", T0 + n, message(n), 7)
                for n in range(15)
                for store in (first, second)
            )
        )
        assert results.count(True) == 7
        assert await first.offline.count(HOST, "juliet") == 7
        assert await second.offline.count(HOST, "juliet") == 7


# -- deleting ------------------------------------------------------------------------------------------------


async def test_delete_removes_the_given_ids(storage: Storage) -> None:
    for n in range(5):
        await storage.offline.store(HOST, "juliet", T0 + n, message(n), LIMIT)
    ids = [m.id for m in await storage.offline.fetch(HOST, "juliet")]

    assert await storage.offline.delete(HOST, "juliet", [ids[1], ids[3]]) == 2
    assert await stored(storage, HOST, "juliet") == [(T0 + n, message(n)) for n in (0, 2, 4)]
    # Already gone, unknown, repeated: each removed once, the unknown ignored.
    assert await storage.offline.delete(HOST, "juliet", [ids[1], max(ids) + 1000, ids[0], ids[0]]) == 1
    assert await stored(storage, HOST, "juliet") == [(T0 + n, message(n)) for n in (2, 4)]
    assert await storage.offline.delete(HOST, "juliet", []) == 0
    # Numbers no id can be (a client may send anything): nothing removed, nothing raised.
    assert await storage.offline.delete(HOST, "juliet", [0, -1, -(2**70), 2**63, 2**70]) == 0
    assert await storage.offline.count(HOST, "juliet") == 2


async def test_delete_only_deletes_that_users_messages(storage: Storage) -> None:
    for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet")):
        await storage.offline.store(host, user, T0, message(0), LIMIT)
    every_id = [
        m.id
        for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet"))
        for m in await storage.offline.fetch(host, user)
    ]

    # Romeo's and the other host's Juliet's ids, given as Juliet's: nothing of theirs goes.
    assert await storage.offline.delete(HOST, "juliet", every_id[1:]) == 0
    assert await storage.offline.delete(HOST, "juliet", every_id) == 1
    assert await storage.offline.count(HOST, "juliet") == 0
    assert await stored(storage, HOST, "romeo") == [(T0, message(0))]
    assert await stored(storage, OTHER_HOST, "juliet") == [(T0, message(0))]


async def test_delete_of_many_ids_at_once(storage: Storage) -> None:
    for n in range(5):
        await storage.offline.store(HOST, "juliet", T0 + n, message(n), LIMIT)
    ids = [m.id for m in await storage.offline.fetch(HOST, "juliet")]
    # More ids than one statement may bind on either database; the real ones spread among them.
    many = [i for i in range(max(ids) + 1, max(ids) + 40_000) if i % 7] + ids[::2]
    assert await storage.offline.delete(HOST, "juliet", many) == 3
    assert await stored(storage, HOST, "juliet") == [(T0 + n, message(n)) for n in (1, 3)]


async def test_delete_user_removes_every_message_of_that_user_only(storage: Storage) -> None:
    for n in range(3):
        await storage.offline.store(HOST, "juliet", T0 + n, message(n), LIMIT)
    await storage.offline.store(HOST, "romeo", T0, message(0), LIMIT)
    await storage.offline.store(OTHER_HOST, "juliet", T0, message(0), LIMIT)

    assert await storage.offline.delete_user(HOST, "juliet") == 3
    assert await storage.offline.fetch(HOST, "juliet") == []
    assert await storage.offline.count(HOST, "juliet") == 0
    assert await stored(storage, HOST, "romeo") == [(T0, message(0))]
    assert await stored(storage, OTHER_HOST, "juliet") == [(T0, message(0))]
    assert await storage.offline.delete_user(HOST, "juliet") == 0
    # The quota starts afresh.
    assert await storage.offline.store(HOST, "juliet", T0, message(0), 1) is True


# -- isolation and durability --------------------------------------------------------------------------------


@pytest.mark.parametrize("other", [(OTHER_HOST, "juliet"), (HOST, "romeo"), (HOST, "juliet2")])
async def test_messages_are_isolated_by_host_and_user(storage: Storage, other: tuple[str, str]) -> None:
    host, user = other
    await storage.offline.store(HOST, "juliet", T0, message(0), LIMIT)
    await storage.offline.store(host, user, T0 + 1, message(1), LIMIT)
    await storage.offline.store(host, user, T0 - 1, message(2), LIMIT)

    assert await stored(storage, HOST, "juliet") == [(T0, message(0))]
    assert await stored(storage, host, user) == [(T0 - 1, message(2)), (T0 + 1, message(1))]
    assert await storage.offline.count(HOST, "juliet") == 1
    assert await storage.offline.count(host, user) == 2
    assert await storage.offline.delete_user(host, user) == 2
    assert await stored(storage, HOST, "juliet") == [(T0, message(0))]


async def test_unusual_names(storage: Storage) -> None:
    names = ("j\u00fcrgen", "\u4e2d\u6587", "emoji\U0001f600", "a'b\"c;--", "%_*", "x" * 1023)
    for name in names:
        await storage.offline.store(HOST, name, T0, name.encode(), 1)
        # A name that a LIKE pattern or a prefix match would confuse with it.
        await storage.offline.store(HOST, name + "x", T0, b"other", 1)
    for name in names:
        assert await stored(storage, HOST, name) == [(T0, name.encode())]
        assert await storage.offline.delete_user(HOST, name) == 1
        assert await stored(storage, HOST, name + "x") == [(T0, b"other")]


async def test_writes_are_committed_when_they_return(sql_backend: Backend) -> None:
    async with await sql_backend.open() as first:
        for n in range(4):
            assert await first.offline.store(HOST, "juliet", T0 + 3 - n, message(n), 4)
        async with await sql_backend.open() as second:
            fetched = await second.offline.fetch(HOST, "juliet")
            assert [(m.stamp, m.stanza) for m in fetched] == [(T0 + 3 - n, message(n)) for n in (3, 2, 1, 0)]
            assert await second.offline.store(HOST, "juliet", T0, message(9), 4) is False
            assert await second.offline.delete(HOST, "juliet", [fetched[0].id]) == 1
        assert await first.offline.count(HOST, "juliet") == 3
        assert await first.offline.fetch(HOST, "juliet") == fetched[1:]
        assert await first.offline.store(HOST, "juliet", T0 + 9, message(9), 4) is True

        async with await sql_backend.open() as second:
            assert await second.offline.count(HOST, "juliet") == 4
            # Ids keep increasing in a freshly opened storage.
            assert max(m.id for m in await second.offline.fetch(HOST, "juliet")) > max(m.id for m in fetched)
        assert await first.offline.delete_user(HOST, "juliet") == 4
        async with await sql_backend.open() as second:
            assert await second.offline.fetch(HOST, "juliet") == []
