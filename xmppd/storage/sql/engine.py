"""The async engine for SQLite and PostgreSQL, and every difference between the two, in one place.

- URLs: ``sqlite:///path`` runs on aiosqlite, ``postgresql://...`` on asyncpg; ``?schema=NAME`` on PostgreSQL
  becomes the ``search_path`` of every connection.
- Transactions: ``Database.write()`` is one transaction, committed when the block ends, so a write is
  durable before its coroutine returns. ``Database.read()`` runs outside any transaction, which a single
  SELECT does not need (it saves a BEGIN and a ROLLBACK per read).
- Group commit: many small writes that arrive together (offline messages) share transactions through
  ``GroupCommit``: each caller queues its item and waits; one drainer takes every queued item (up to a cap), in
  order, runs them in one transaction (``Database.transact``) and answers each caller after the COMMIT, or
  fails each of them with the ``StorageError`` when the transaction fails (none of the batch is then stored).
  A transaction costs its BEGIN, its COMMIT and hand-overs to the driver's thread (round trips on PostgreSQL)
  whatever it holds: shared, they let a flood of writes keep up.
- ``Database.transact(fn)`` runs plain code over a synchronous connection as one transaction: on SQLite in a
  writer thread of its own with a connection of its own, in one hand-over for the whole transaction (the async
  driver hands over each of the checkout, BEGIN, every statement, COMMIT and the reset); on PostgreSQL through
  ``AsyncConnection.run_sync`` on the pool.
- SQLite: Python's sqlite3 does not BEGIN before DDL or SELECT on its own (its legacy transaction control), so
  it is switched off and ``write()`` emits ``BEGIN IMMEDIATE``, taking the write lock up front: a transaction
  that starts as a reader and later writes could otherwise fail with SQLITE_BUSY when another process wrote in
  between. One connection serves ``read()`` and ``write()`` for the whole process, and one other
  ``transact()``; WAL mode (switched on once, by ``Database.prepare``) lets other processes (``xmppd user
  ...``) read meanwhile, and ``busy_timeout`` makes them wait for the lock rather than fail. ``read()``,
  ``write()`` and ``transact()`` take turns in an ``asyncio.Lock`` (first come, first served, with no time
  limit) before they check their connection out, so a flood of writers queues there rather than failing on the
  pool's checkout timeout, and the two writing connections never wait for each other's lock.
- Upserts and insert-or-ignore: both dialects spell them ``ON CONFLICT``, but through different SQLAlchemy
  constructs.
- A check and a write as one step (a quota): ``Database.lock_users`` takes per-user advisory locks on
  PostgreSQL, whose READ COMMITTED would let two transactions both find room, in the order of their keys (so two
  transactions that lock several users never wait for each other in a circle); on SQLite the write lock does it.
- Reads on the login path: ``Database.fetch()`` runs one SELECT in one step. On SQLite that is a second, read-only
  connection in a thread of its own, reached with one hand-over per query (the async driver's shared connection
  costs a hand-over to its thread for each of the checkout, the cursor, the execution, the fetch and the reset);
  WAL lets it read while the other connection writes, and it sees every committed write.
- Errors: whatever a driver raises leaves as ``StorageError``, without the statement's parameters.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Executable,
    Row,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool
from sqlalchemy.sql.dml import Insert, ReturningInsert

from xmppd.errors import StorageError

log = logging.getLogger(__name__)

DialectName = Literal["sqlite", "postgresql"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: What a driver may raise (OSError covers refused connections and timeouts while connecting).
DRIVER_ERRORS: Final = (SQLAlchemyError, OSError)

#: A plain PostgreSQL identifier of at most NAMEDATALEN - 1 bytes; anything else is refused as a schema name.
_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

#: Run on every new SQLite connection, outside any transaction (``foreign_keys`` is ignored inside one).
_SQLITE_PRAGMAS: Final = (
    "PRAGMA busy_timeout = 5000",
    # In WAL mode, NORMAL loses no committed transaction when the process dies, only on power loss.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)

#: How long ``Database.prepare`` keeps trying to switch an SQLite database to WAL while others hold it.
_SQLITE_WAL_TIMEOUT: Final = 5.0

#: The execution option by which ``read()`` asks the SQLite begin listener for no transaction.
_NO_TRANSACTION: Final = "xmppd_no_transaction"


#: How long a PostgreSQL user waits for a pooled connection before failing, by default (SQLAlchemy's own).
DEFAULT_POOL_TIMEOUT: Final = 30.0

#: A PostgreSQL lock held until the transaction ends (see ``Database.lock_users``).
_ADVISORY_LOCK: Final = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def storage_error(exc: BaseException) -> StorageError:
    """A ``StorageError`` describing ``exc`` by the driver's own message, never the statement's parameters."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return StorageError(f"storage failed: {type(cause).__name__}: {cause}")


class Database:
    """One engine and its dialect's quirks; the SQL stores share it."""

    def __init__(
        self,
        engine: AsyncEngine,
        dialect: DialectName,
        schema: str | None = None,
        *,
        sync_reader: Engine | None = None,
        sync_writer: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.dialect: DialectName = dialect
        self.schema = schema
        """The PostgreSQL schema every table lives in (None: the server's default search path)."""
        if dialect == "postgresql":
            self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self._reader = engine.execution_options(**{_NO_TRANSACTION: True})
        self._sync_reader = sync_reader
        self._read_thread: ThreadPoolExecutor | None = None
        self._sync_writer = sync_writer
        self._write_thread: ThreadPoolExecutor | None = None
        # SQLite's one connection: whoever wants it waits here, in order and without a time limit.
        self._turns = asyncio.Lock() if dialect == "sqlite" else None

    def _turn(self) -> AbstractAsyncContextManager[object]:
        """Held while using a pooled connection: the turn on SQLite's one connection (nothing on PostgreSQL)."""
        return self._turns if self._turns is not None else nullcontext()

    async def fetch(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        """Every row of one SELECT, read outside any transaction as ``read()`` does, in one step (see above)."""
        if self._sync_reader is None:
            async with self.read() as conn:
                return (await conn.execute(statement, params)).all()
        if self._read_thread is None:
            self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="xmppd-sql-read")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._read_thread, self._fetch, statement, params)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc) from exc

    def _fetch(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        assert self._sync_reader is not None
        with self._sync_reader.connect() as conn:
            return conn.execute(statement, params).all()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection outside any transaction: for one SELECT, which is consistent on its own."""
        async with self._turn():
            try:
                async with self._reader.connect() as conn:
                    yield conn
            except DRIVER_ERRORS as exc:
                raise storage_error(exc) from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends and rolled back when it raises."""
        async with self._turn():
            try:
                async with self.engine.begin() as conn:
                    yield conn
            except DRIVER_ERRORS as exc:
                raise storage_error(exc) from exc

    async def transact(self, fn: Callable[[Connection], ResultT]) -> ResultT:
        """``fn(conn)`` in one transaction, committed when it returns and rolled back when it raises; its result.

        ``fn`` is plain code over a synchronous connection (see the module docstring): on SQLite it runs in the
        writer thread, so it must not touch the event loop. Raises ``StorageError`` for a driver's error.
        """
        if self._sync_writer is None:
            try:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
            except DRIVER_ERRORS as exc:
                raise storage_error(exc) from exc
        if self._write_thread is None:
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="xmppd-sql-write")
        loop = asyncio.get_running_loop()
        async with self._turn():
            # Cancelled meanwhile, the thread still ends its transaction; another writer then waits for the
            # file's lock (busy_timeout) rather than for the turn.
            try:
                return await loop.run_in_executor(self._write_thread, self._transact, fn)
            except DRIVER_ERRORS as exc:
                raise storage_error(exc) from exc

    def _transact(self, fn: Callable[[Connection], ResultT]) -> ResultT:
        assert self._sync_writer is not None
        with self._sync_writer.begin() as conn:
            return fn(conn)

    async def prepare(self) -> None:
        """Apply the settings a database keeps in itself, before anything else uses it: on SQLite, WAL mode.

        The journal mode is kept in the file, so it is set once here rather than by every new connection.
        Switching it needs every other writer gone, and when another connection holds the write lock SQLite
        answers "database is locked" at once instead of waiting ``busy_timeout`` (it would risk a deadlock):
        two processes opening a new database together, or one opening it while another writes, would fail.
        So the switch is retried, sleeping on the event loop between attempts, for ``_SQLITE_WAL_TIMEOUT``.

        Raises ``StorageError``.
        """
        if self.dialect != "sqlite":
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SQLITE_WAL_TIMEOUT
        delay = 0.005
        while True:
            try:
                async with self._reader.connect() as conn:
                    mode = (await conn.exec_driver_sql("PRAGMA journal_mode = WAL")).scalar()
                break
            except DBAPIError as exc:
                if not _is_sqlite_busy(exc) or loop.time() + delay > deadline:
                    raise storage_error(exc) from exc
            except DRIVER_ERRORS as exc:
                raise storage_error(exc) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        if str(mode).lower() != "wal":
            # Some file systems (network shares) cannot hold a WAL; SQLite then keeps its rollback journal.
            log.warning("SQLite kept journal mode %r instead of WAL: other processes may wait longer", mode)

    def upsert(self, table: Table, key_columns: Sequence[str]) -> Insert:
        """INSERT of one row that replaces the other columns of the row with the same ``key_columns``.

        Execute it with every column's value as parameters.
        """
        if self.dialect == "postgresql":
            pg_insert = postgresql.insert(table)
            pg_updates = {c.name: pg_insert.excluded[c.name] for c in table.c if c.name not in key_columns}
            return pg_insert.on_conflict_do_update(index_elements=list(key_columns), set_=pg_updates)
        lite_insert = sqlite.insert(table)
        updates = {c.name: lite_insert.excluded[c.name] for c in table.c if c.name not in key_columns}
        return lite_insert.on_conflict_do_update(index_elements=list(key_columns), set_=updates)

    def upsert_returning(
        self,
        table: Table,
        key_columns: Sequence[str],
        updates: Mapping[str, ColumnElement[Any]],
        returning: ColumnElement[Any],
    ) -> ReturningInsert[tuple[Any]]:
        """INSERT of one row that, when a row with equal ``key_columns`` exists, sets ``updates`` on that row
        instead (expressions of its current values); either way it returns ``returning`` of the row.

        On PostgreSQL the update waits for, and then sees, a concurrent transaction's committed change of the
        row, so ``{"n": table.c.n + 1}`` counts without ever losing an increment.
        """
        if self.dialect == "postgresql":
            pg_insert = postgresql.insert(table)
            return pg_insert.on_conflict_do_update(index_elements=list(key_columns), set_=updates).returning(
                returning
            )
        lite_insert = sqlite.insert(table)
        return lite_insert.on_conflict_do_update(index_elements=list(key_columns), set_=updates).returning(
            returning
        )

    def insert_ignore(self, table: Table, key_columns: Sequence[str]) -> Insert:
        """INSERT of one row that does nothing (rowcount 0) when a row with equal ``key_columns`` exists."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(key_columns))
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key_columns))

    async def lock_user(self, conn: AsyncConnection, purpose: str, host: str, username: str) -> None:
        """Serialize the transactions of ``conn`` and others that lock the same (``purpose``, user), until commit.

        For a check and a write that must be one step (a quota), which READ COMMITTED alone does not make: two
        transactions could both count, both find room, and both insert. On PostgreSQL this takes a
        transaction-level advisory lock on a key hashed from the schema, ``purpose`` and the user (a collision
        only makes two users wait for each other). On SQLite ``write()`` already holds the database's write lock,
        so there is nothing to do.
        """
        await self.lock_users(conn, purpose, ((host, username),))

    async def lock_users(self, conn: AsyncConnection, purpose: str, users: Iterable[tuple[str, str]]) -> None:
        """``lock_user`` for each (host, username) of ``users``, taken in the order of their keys.

        Every transaction that locks several users takes their locks in that one order, so none waits for a
        lock held by another that waits for one of its own (a deadlock, which PostgreSQL would break by
        failing one of them).
        """
        for key in self._lock_keys(purpose, users):
            await conn.execute(_ADVISORY_LOCK, {"key": key})

    def lock_users_sync(self, conn: Connection, purpose: str, users: Iterable[tuple[str, str]]) -> None:
        """``lock_users`` within ``transact``."""
        for key in self._lock_keys(purpose, users):
            conn.execute(_ADVISORY_LOCK, {"key": key})

    def _lock_keys(self, purpose: str, users: Iterable[tuple[str, str]]) -> list[int]:
        """The sorted advisory lock keys of ``users`` on PostgreSQL; none on SQLite."""
        if self.dialect != "postgresql":
            return []
        keys = set()
        for host, username in users:
            # NUL cannot occur in a host, a username or a schema name, so the joined text is unambiguous.
            text = "\0".join(("xmppd", self.schema or "", purpose, host, username))
            digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
            keys.add(int.from_bytes(digest, "big", signed=True))
        return sorted(keys)

    @property
    def migration_lock_key(self) -> int:
        """The PostgreSQL advisory lock key that serializes migrators of this schema (a signed 64-bit int)."""
        digest = hashlib.blake2b(f"xmppd migrations {self.schema or ''}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    async def close(self) -> None:
        """Close every pooled connection."""
        loop = asyncio.get_running_loop()
        try:
            await self.engine.dispose()
            if self._sync_reader is not None and self._read_thread is not None:
                await loop.run_in_executor(self._read_thread, self._sync_reader.dispose)
            if self._sync_writer is not None and self._write_thread is not None:
                async with self._turn():
                    await loop.run_in_executor(self._write_thread, self._sync_writer.dispose)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc) from exc
        finally:
            for thread in (self._read_thread, self._write_thread):
                if thread is not None:
                    thread.shutdown(wait=False)
            self._read_thread = self._write_thread = None


#: Runs one batch inside its transaction (``Database.transact``): one result per item, in the items' order.
BatchHandler = Callable[[Connection, Sequence[ItemT]], Sequence[ResultT]]

#: Items per transaction by default: enough to amortize it, few enough to keep each one short.
DEFAULT_MAX_BATCH: Final = 1000


class GroupCommit(Generic[ItemT, ResultT]):
    """Writes that share transactions (see the module docstring): ``submit`` returns after the COMMIT.

    A drainer task runs while items wait: it takes the queued items in the order they came (at most
    ``max_batch``), runs ``handler(conn, items)`` in one ``Database.transact()``, and answers each submitter
    with its result once committed. Items that queue meanwhile form the next batch, so the busier the writers the
    larger the batches, and a lone write waits for no timer.
    """

    def __init__(
        self,
        db: Database,
        handler: BatchHandler[ItemT, ResultT],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
        self._handler = handler
        self._max_batch = max_batch
        self._queue: deque[tuple[ItemT, asyncio.Future[ResultT]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        """Run ``item`` in the next transaction; its result once that transaction has committed.

        Raises ``StorageError`` when the transaction failed: nothing of its batch was stored. A submitter
        cancelled while its batch runs does not stop it (the item may still be committed); one cancelled
        before is left out.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._queue.append((item, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                batch: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
                while queue and len(batch) < self._max_batch:
                    entry = queue.popleft()
                    if not entry[1].done():  # done: its submitter was cancelled
                        batch.append(entry)
                if batch:
                    await self._run(batch)
        finally:
            self._drainer = None
            # Left only when this task was cancelled (the loop is closing): nobody would answer them.
            while queue:
                queue.popleft()[1].cancel()

    async def _run(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await self._db.transact(lambda conn: self._checked(conn, items))
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            if not isinstance(exc, StorageError):
                log.exception("a batch of %d writes failed", len(items))
            for _, future in batch:
                if not future.done():
                    # One exception each: a shared one would collect every awaiting task's traceback.
                    error = StorageError(str(exc) if isinstance(exc, StorageError) else "storage failed")
                    error.__cause__ = exc
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _checked(self, conn: Connection, items: list[ItemT]) -> Sequence[ResultT]:
        results = self._handler(conn, items)
        if len(results) != len(items):
            raise RuntimeError(f"a batch handler gave {len(results)} results for {len(items)} items")
        return results


def create_database(url: str, *, pool_timeout: float = DEFAULT_POOL_TIMEOUT) -> Database:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``); connects lazily.

    ``pool_timeout`` is how many seconds a checkout may wait for a pooled connection before it fails (on SQLite
    nobody waits there: they queue for their turn before it). Raises ``StorageError`` for a URL it does not
    serve.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message would repeat the URL, password and all.
        raise StorageError("the storage URL cannot be parsed") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        return _create_sqlite(parsed, pool_timeout)
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return _create_postgresql(parsed, pool_timeout)
    raise StorageError(
        f"unsupported storage URL scheme {parsed.drivername!r}: use memory://, sqlite:///path or postgresql://"
    )


def _create_sqlite(url: URL, pool_timeout: float) -> Database:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StorageError("an SQLite storage URL needs a file path: sqlite:///path/to/file.db")
    if Path(database).is_dir():
        # Said here rather than as SQLite's "unable to open database file". COMPAT: aiosqlite, whose failed
        # connect leaves its worker thread a result to deliver to the loop (omnilib/aiosqlite#389).
        raise StorageError(f"the SQLite storage path {database} is a directory, not a file")
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory of {database}: {exc}") from exc
    engine = create_async_engine(
        url.set(drivername="sqlite+aiosqlite"),
        # One connection: SQLite serializes writers anyway, and in one process they then queue (for their turn
        # in Database) instead of waiting on the file lock.
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=pool_timeout,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    # Database.fetch's connection, and Database.transact's.
    reader = _sqlite_thread_engine(url)
    event.listen(reader, "connect", _sqlite_connect_reader)
    writer = _sqlite_thread_engine(url)
    event.listen(writer, "connect", _sqlite_connect)
    event.listen(writer, "begin", _sqlite_begin)
    return Database(engine, "sqlite", sync_reader=reader, sync_writer=writer)


def _sqlite_thread_engine(url: URL) -> Engine:
    """A synchronous engine of one connection, used by one thread at a time (its own, and close()'s hand-over)."""
    return create_engine(
        url.set(drivername="sqlite+pysqlite"),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        hide_parameters=True,
        connect_args={"check_same_thread": False},
    )


def _sqlite_connect(dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry) -> None:
    # No BEGIN from sqlite3 itself: _sqlite_begin emits them (see the module docstring).
    cast(Any, dbapi_connection).isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_connect_reader(dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry) -> None:
    _sqlite_connect(dbapi_connection, connection_record)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()


def _is_sqlite_busy(exc: DBAPIError) -> bool:
    # sqlite3 exceptions carry the primary result code in sqlite_errorcode (Python 3.11+).
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_NO_TRANSACTION):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_postgresql(url: URL, pool_timeout: float) -> Database:
    schema = url.query.get("schema")
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError(
                "the schema parameter of a PostgreSQL storage URL must be one name of letters, digits and _"
            )
        # A startup parameter rather than a SET: no statement per connection. Quoted so that the name keeps
        # its case; it can hold no quote (checked above).
        connect_args["server_settings"] = {"search_path": f'"{schema}"'}
    engine = create_async_engine(
        url.difference_update_query(["schema"]).set(drivername="postgresql+asyncpg"),
        connect_args=connect_args,
        pool_timeout=pool_timeout,
        hide_parameters=True,
    )
    return Database(engine, "postgresql", schema)
