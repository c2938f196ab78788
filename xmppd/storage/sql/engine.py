"""The async engine for SQLite and PostgreSQL, and every difference between the two, in one place.

- URLs: ``sqlite:///path`` runs on aiosqlite, ``postgresql://...`` on asyncpg; ``?schema=NAME`` on PostgreSQL
  becomes the ``search_path`` of every connection.
- Transactions: ``Database.write()`` is one transaction, committed when the block ends, so a write is
  durable before its coroutine returns. ``Database.read()`` runs outside any transaction, which a single
  SELECT does not need (it saves a BEGIN and a ROLLBACK per read).
- SQLite: Python's sqlite3 does not BEGIN before DDL or SELECT on its own (its legacy transaction control), so
  it is switched off and ``write()`` emits ``BEGIN IMMEDIATE``, taking the write lock up front: a transaction
  that starts as a reader and later writes could otherwise fail with SQLITE_BUSY when another process wrote in
  between. One connection serves the whole process; WAL mode (switched on once, by ``Database.prepare``) lets
  other processes (``xmppd user ...``) read meanwhile, and ``busy_timeout`` makes them wait for the lock rather
  than fail.
- Upserts and insert-or-ignore: both dialects spell them ``ON CONFLICT``, but through different SQLAlchemy
  constructs.
- A check and a write as one step (a quota): ``Database.lock_user`` takes a per-user advisory lock on
  PostgreSQL, whose READ COMMITTED would let two transactions both find room; on SQLite the write lock does it.
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
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal, cast

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


#: A PostgreSQL lock held until the transaction ends (see ``Database.lock_user``).
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
        try:
            async with self._reader.connect() as conn:
                yield conn
        except DRIVER_ERRORS as exc:
            raise storage_error(exc) from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends and rolled back when it raises."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except DRIVER_ERRORS as exc:
            raise storage_error(exc) from exc

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
        if self.dialect != "postgresql":
            return
        # NUL cannot occur in a host, a username or a schema name, so the joined text is unambiguous.
        text = "\0".join(("xmppd", self.schema or "", purpose, host, username))
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        await conn.execute(_ADVISORY_LOCK, {"key": int.from_bytes(digest, "big", signed=True)})

    @property
    def migration_lock_key(self) -> int:
        """The PostgreSQL advisory lock key that serializes migrators of this schema (a signed 64-bit int)."""
        digest = hashlib.blake2b(f"xmppd migrations {self.schema or ''}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    async def close(self) -> None:
        """Close every pooled connection."""
        try:
            await self.engine.dispose()
            if self._sync_reader is not None and self._read_thread is not None:
                await asyncio.get_running_loop().run_in_executor(self._read_thread, self._sync_reader.dispose)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc) from exc
        finally:
            if self._read_thread is not None:
                self._read_thread.shutdown(wait=False)
                self._read_thread = None


def create_database(url: str) -> Database:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``); connects lazily.

    Raises ``StorageError`` for a URL it does not serve.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message would repeat the URL, password and all.
        raise StorageError("the storage URL cannot be parsed") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        return _create_sqlite(parsed)
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return _create_postgresql(parsed)
    raise StorageError(
        f"unsupported storage URL scheme {parsed.drivername!r}: use memory://, sqlite:///path or postgresql://"
    )


def _create_sqlite(url: URL) -> Database:
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
        # One connection: SQLite serializes writers anyway, and in one process they then queue here instead of
        # waiting on the file lock.
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    # Database.fetch's connection: used by one thread at a time (its own, and close()'s hand-over to it).
    reader = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        hide_parameters=True,
        connect_args={"check_same_thread": False},
    )
    event.listen(reader, "connect", _sqlite_connect_reader)
    return Database(engine, "sqlite", sync_reader=reader)


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


def _create_postgresql(url: URL) -> Database:
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
        hide_parameters=True,
    )
    return Database(engine, "postgresql", schema)
