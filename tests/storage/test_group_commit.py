"""Shared transactions (``GroupCommit``, ``Database.transact``) and writers queueing for SQLite's connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Connection, text

from tests.storage.conftest import Backend
from xmppd.errors import StorageError
from xmppd.storage.sql import Database, create_database
from xmppd.storage.sql.engine import GroupCommit
from xmppd.storage.sql.migrations import migrate

_INSERT = text("INSERT INTO batch_items (n) VALUES (:n)")


@pytest.fixture
async def db(sql_backend: Backend) -> AsyncIterator[Database]:
    """A migrated database with a table ``batch_items (n)`` (n unique)."""
    database = create_database(sql_backend.url)
    try:
        await migrate(database)
        async with database.write() as conn:
            await conn.execute(text("CREATE TABLE batch_items (n BIGINT PRIMARY KEY)"))
        yield database
    finally:
        await database.close()


async def kept(db: Database) -> list[int]:
    async with db.read() as conn:
        return sorted(int(n) for (n,) in await conn.execute(text("SELECT n FROM batch_items")))


class Recorder:
    """A batch handler that inserts each item and answers it doubled, and remembers each batch it ran."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __call__(self, conn: Connection, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        conn.execute(_INSERT, [{"n": n} for n in items])
        return [n * 2 for n in items]


async def test_concurrent_writes_share_transactions_and_are_committed_when_they_return(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    seen_committed: list[bool] = []

    async def write(n: int) -> int:
        result = await writes.submit(n)
        seen_committed.append(n in await kept(db))
        return result

    results = await asyncio.gather(*(write(n) for n in range(200)))
    assert results == [n * 2 for n in range(200)]
    assert all(seen_committed) and len(seen_committed) == 200
    # Every one queued before the drainer's first turn.
    assert recorder.batches == [list(range(200))]
    assert await kept(db) == list(range(200))


async def test_writes_that_come_while_a_batch_runs_form_the_next(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    first = asyncio.ensure_future(writes.submit(0))
    while not recorder.batches:
        await asyncio.sleep(0.001)
    assert await asyncio.gather(*(writes.submit(n) for n in range(1, 50))) == [n * 2 for n in range(1, 50)]
    assert await first == 0
    assert recorder.batches == [[0], list(range(1, 50))]


async def test_one_commit_for_many_writes(db: Database, commits: list[int]) -> None:
    writes = GroupCommit(db, Recorder())
    await asyncio.gather(*(writes.submit(n) for n in range(100)))
    assert len(commits) == 1
    await writes.submit(100)
    assert len(commits) == 2


async def test_batches_are_capped_and_keep_the_order_of_submitting(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder, max_batch=7)
    await asyncio.gather(*(writes.submit(n) for n in range(30)))
    assert all(1 <= len(batch) <= 7 for batch in recorder.batches)
    assert [n for batch in recorder.batches for n in batch] == list(range(30))


async def test_a_lone_write_is_not_kept_waiting(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    for n in range(3):
        assert await writes.submit(n) == n * 2
    assert recorder.batches == [[0], [1], [2]]


async def test_a_failed_commit_fails_every_write_of_the_batch_and_keeps_none(
    db: Database, failing_commits: list[int]
) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    failing_commits.append(1)
    results = await asyncio.gather(*(writes.submit(n) for n in range(50)), return_exceptions=True)
    assert len(recorder.batches) == 1
    assert all(isinstance(result, StorageError) for result in results)
    assert "disk I/O error" in str(results[0])
    assert len({id(result) for result in results}) == 50  # one exception each
    assert await kept(db) == []
    # The next batch is fine again, and may reuse the numbers the failed ones did not keep.
    assert await asyncio.gather(*(writes.submit(n) for n in range(3))) == [0, 2, 4]
    assert await kept(db) == [0, 1, 2]


async def test_a_handler_that_raises_fails_the_batch_with_storage_errors(db: Database) -> None:
    def broken(conn: Connection, items: Sequence[int]) -> list[int]:
        conn.execute(_INSERT, [{"n": n} for n in items])
        raise ValueError("a bug")

    writes = GroupCommit(db, broken)
    results = await asyncio.gather(*(writes.submit(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(result, StorageError) for result in results)
    assert await kept(db) == []


async def test_a_handler_must_answer_every_item(db: Database) -> None:
    writes = GroupCommit(db, lambda conn, items: [True])
    results = await asyncio.gather(*(writes.submit(n) for n in range(3)), return_exceptions=True)
    assert [type(result) for result in results] == [StorageError] * 3


async def test_a_driver_error_in_one_item_fails_its_batch(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    await writes.submit(5)
    # 5 is taken (the primary key): the batch holding it again fails whole.
    results = await asyncio.gather(*(writes.submit(n) for n in (1, 5, 6)), return_exceptions=True)
    assert all(isinstance(result, StorageError) for result in results)
    assert await kept(db) == [5]


async def test_a_cancelled_waiting_write_is_left_out(db: Database) -> None:
    recorder = Recorder()
    writes = GroupCommit(db, recorder)
    waiting = [asyncio.ensure_future(writes.submit(n)) for n in (1, 2, 3)]
    await asyncio.sleep(0)  # every one queued, and the drainer not yet started
    waiting[1].cancel()
    assert await waiting[0] == 2 and await waiting[2] == 6
    assert waiting[1].cancelled()
    assert recorder.batches == [[1, 3]]
    assert await kept(db) == [1, 3]


def test_a_batch_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(None, Recorder(), max_batch=0)  # type: ignore[arg-type]


async def test_transact_commits_or_rolls_back(db: Database) -> None:
    def insert(conn: Connection) -> str:
        conn.execute(_INSERT, {"n": 1})
        return "done"

    def insert_then_fail(conn: Connection) -> None:
        conn.execute(_INSERT, {"n": 2})
        conn.execute(_INSERT, {"n": 1})  # taken

    assert await db.transact(insert) == "done"
    with pytest.raises(StorageError):
        await db.transact(insert_then_fail)
    assert await kept(db) == [1]


async def test_writers_beyond_the_pool_timeout_queue_instead_of_failing(tmp_path: object) -> None:
    # Each writer holds SQLite's connection for a while; together far longer than a checkout may wait.
    db = create_database(f"sqlite:///{tmp_path}/queue.db", pool_timeout=0.01)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE batch_items (n BIGINT PRIMARY KEY)"))

        async def write(n: int) -> None:
            async with db.write() as conn:
                await conn.execute(_INSERT, {"n": n})
                await asyncio.sleep(0.002)

        async def read() -> int:
            async with db.read() as conn:
                await asyncio.sleep(0.002)
                return len((await conn.execute(text("SELECT n FROM batch_items"))).all())

        def transact(n: int) -> object:
            return lambda conn: conn.execute(_INSERT, {"n": n})

        await asyncio.gather(
            *(write(n) for n in range(0, 60)),
            *(read() for _ in range(20)),
            *(db.transact(transact(n)) for n in range(60, 120)),
        )
        assert await kept(db) == list(range(120))
    finally:
        await db.close()


async def test_a_single_connection_alone_would_time_out(tmp_path: object) -> None:
    # The situation the previous test is about: without queueing for the turn, the pool's checkout fails.
    db = create_database(f"sqlite:///{tmp_path}/pool.db", pool_timeout=0.01)
    try:
        async with db.engine.connect():
            with pytest.raises(Exception, match="QueuePool limit"):
                async with db.engine.connect():
                    pass
    finally:
        await db.close()
