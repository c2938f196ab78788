"""Opening a storage URL: schema migrations, refusals, and what the SQL tables hold."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Column, Connection, Integer, MetaData, Table, UniqueConstraint, select

from tests.storage.conftest import Backend, connect_admin
from xmppd.accounts import create_account, set_password
from xmppd.errors import StorageError
from xmppd.sasl.scram import verify_password
from xmppd.storage import Storage, open_storage
from xmppd.storage.roster import RosterItem
from xmppd.storage.sql import create_database, migrations
from xmppd.storage.sql.migrations import LATEST, MIGRATIONS, Migration, migrate, schema_version
from xmppd.storage.sql.schema import metadata as current_schema

HOST = "example.org"


async def versions(url: str) -> list[tuple[int, str]]:
    """The rows of ``schema_version``: (version, name) of every migration applied."""
    db = create_database(url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(select(schema_version.c.version, schema_version.c.name))).all()
    finally:
        await db.close()
    return sorted((int(row.version), str(row.name)) for row in rows)


async def reflect(url: str) -> MetaData:
    """Every table the database holds (in the storage's schema, on PostgreSQL), as the database describes it."""
    db = create_database(url)
    reflected = MetaData()
    try:
        async with db.read() as conn:
            await conn.run_sync(reflected.reflect)
    finally:
        await db.close()
    return reflected


async def every_value(url: str) -> list[Any]:
    """Every value of every column of every row of every table."""
    tables = await reflect(url)
    db = create_database(url)
    values: list[Any] = []
    try:
        async with db.read() as conn:
            for table in tables.sorted_tables:
                for row in (await conn.execute(select(table))).all():
                    values.extend(row)
    finally:
        await db.close()
    return values


def indexes(table: Table) -> set[tuple[str | None, tuple[str, ...], bool]]:
    """(name, columns, unique) of each index and unique constraint of ``table`` (not its primary key)."""
    found: set[tuple[str | None, tuple[str, ...], bool]] = {
        (index.name, tuple(column.name for column in index.columns), bool(index.unique))
        for index in table.indexes
    }
    found.update(
        (str(constraint.name), tuple(column.name for column in constraint.columns), True)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    )
    return found


def foreign_keys(table: Table) -> set[tuple[tuple[str, ...], str, tuple[str, ...], str]]:
    """(columns, referred table, referred columns, ON DELETE) of each foreign key of ``table``."""
    return {
        (
            tuple(element.parent.name for element in fk.elements),
            fk.referred_table.name,
            tuple(element.column.name for element in fk.elements),
            (fk.ondelete or "NO ACTION").upper(),
        )
        for fk in table.foreign_key_constraints
    }


# -- migrating -----------------------------------------------------------------------------------------------


async def test_a_fresh_database_is_migrated_to_the_latest_version(sql_backend: Backend) -> None:
    db = create_database(sql_backend.url)
    try:
        assert await migrate(db) == 0
    finally:
        await db.close()
    assert await versions(sql_backend.url) == [(m.version, m.name) for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))

    # And the stores work on it.
    async with await sql_backend.open() as storage:
        await storage.accounts.create(HOST, "alice", [])
        await storage.keyval.set(HOST, "alice", "private", "k", b"v")


async def test_the_migrated_schema_is_what_schema_py_describes(sql_backend: Backend) -> None:
    await (await sql_backend.open()).close()
    reflected = await reflect(sql_backend.url)
    dialect = create_database(sql_backend.url).engine.dialect

    assert set(reflected.tables) == {*current_schema.tables, schema_version.name}
    for name, expected in current_schema.tables.items():
        actual = reflected.tables[name]
        assert [c.name for c in actual.columns] == [c.name for c in expected.columns], name
        for column in expected.columns:
            found = actual.c[column.name]
            where = f"{name}.{column.name}"
            assert found.type.compile(dialect) == column.type.compile(dialect), where
            assert found.nullable == column.nullable, where
        assert [c.name for c in actual.primary_key] == [c.name for c in expected.primary_key], name
        assert foreign_keys(actual) == foreign_keys(expected), name
        assert indexes(actual) == indexes(expected), name


async def test_a_database_at_an_older_version_is_upgraded_keeping_its_data(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database written by the xmppd of schema version 1 (accounts and key/value only).
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST", 1)
    async with await sql_backend.open() as storage:
        alice = await storage.accounts.create(HOST, "alice", [])
        await storage.keyval.set(HOST, "alice", "private", "k", b"v")
    monkeypatch.undo()
    assert await versions(sql_backend.url) == [(1, "initial")]
    assert {"roster_items", "offline_messages"}.isdisjoint((await reflect(sql_backend.url)).tables)

    async with await sql_backend.open() as storage:
        assert await storage.accounts.get(HOST, "alice") == alice
        assert await storage.keyval.get(HOST, "alice", "private", "k") == b"v"
        assert await storage.roster.put_item(HOST, "alice", RosterItem("romeo@example.net")) == 1
        assert await storage.offline.store(HOST, "alice", 1, b"<message/>", 10) is True
    assert await versions(sql_backend.url) == [(m.version, m.name) for m in MIGRATIONS]


async def test_opening_twice_changes_nothing(sql_backend: Backend) -> None:
    async with await sql_backend.open() as storage:
        alice = await storage.accounts.create(HOST, "alice", [])
        await storage.keyval.set(HOST, "alice", "private", "k", b"v")
    first = await versions(sql_backend.url)

    async with await sql_backend.open() as storage:
        assert await storage.accounts.get(HOST, "alice") == alice
        assert await storage.keyval.get(HOST, "alice", "private", "k") == b"v"
    assert await versions(sql_backend.url) == first

    db = create_database(sql_backend.url)
    try:
        assert await migrate(db) == LATEST
    finally:
        await db.close()
    assert await versions(sql_backend.url) == first


async def test_concurrent_opens_of_a_fresh_database_migrate_it_once(sql_backend: Backend) -> None:
    opened = await asyncio.gather(*(sql_backend.open() for _ in range(3)))
    try:
        await opened[0].accounts.create(HOST, "alice", [])
        for storage in opened:
            assert await storage.accounts.list(HOST) == ["alice"]
    finally:
        for storage in opened:
            await storage.close()
    assert await versions(sql_backend.url) == [(m.version, m.name) for m in MIGRATIONS]


async def test_a_failing_migration_leaves_the_database_as_it_was(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await sql_backend.open() as storage:
        alice = await storage.accounts.create(HOST, "alice", [])

    def half_done(conn: Connection) -> None:
        table = Table("half_done", MetaData(), Column("x", Integer))
        table.create(conn)
        table.create(conn)  # fails in the database: the table exists

    monkeypatch.setattr(
        migrations, "MIGRATIONS", (*MIGRATIONS, Migration(LATEST + 1, "half_done", half_done))
    )
    monkeypatch.setattr(migrations, "LATEST", LATEST + 1)
    with pytest.raises(StorageError, match="half_done"):
        await open_storage(sql_backend.url)
    monkeypatch.undo()

    assert await versions(sql_backend.url) == [(m.version, m.name) for m in MIGRATIONS]
    assert "half_done" not in (await reflect(sql_backend.url)).tables
    async with await sql_backend.open() as storage:
        assert await storage.accounts.get(HOST, "alice") == alice


async def test_a_schema_newer_than_the_code_is_refused(sql_backend: Backend) -> None:
    async with await sql_backend.open() as storage:
        await storage.accounts.create(HOST, "alice", [])
    db = create_database(sql_backend.url)
    try:
        async with db.write() as conn:
            await conn.execute(
                schema_version.insert(),
                {"version": LATEST + 1, "name": "from_the_future", "applied": datetime.now(UTC)},
            )
    finally:
        await db.close()

    with pytest.raises(StorageError, match=f"version {LATEST + 1}.*newer"):
        await open_storage(sql_backend.url)
    # Refusing touched nothing.
    assert (LATEST + 1, "from_the_future") in await versions(sql_backend.url)
    assert len(await versions(sql_backend.url)) == LATEST + 1


# -- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "nonsense",
        "memory://somewhere",
        "memory://?x=1",
        "mysql://root@localhost/xmppd",
        "sqlite+pysqlite:///x.db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:x.db?mode=memory",
        "postgresql+psycopg2://postgres@127.0.0.1/postgres",
        "postgresql://postgres@127.0.0.1/postgres?schema=no-dashes",
        "postgresql://postgres@127.0.0.1/postgres?schema=a;drop",
        "postgresql://postgres@127.0.0.1/postgres?schema=1starts_with_digit",
        "postgresql://postgres@127.0.0.1/postgres?schema=a&schema=b",
        "postgresql://postgres@127.0.0.1/postgres?schema=" + "x" * 64,
    ],
)
async def test_urls_it_does_not_serve_raise_storage_error(url: str) -> None:
    with pytest.raises(StorageError):
        await open_storage(url)


async def test_a_file_that_is_not_a_database_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database, not even close" * 100)
    with pytest.raises(StorageError):
        await open_storage(f"sqlite:///{path}")
    with pytest.raises(StorageError, match="directory"):
        await open_storage(f"sqlite:///{tmp_path}")


async def test_an_unreachable_postgresql_raises_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as info:
        await open_storage("postgresql://xmppd:sup3rsecret@127.0.0.1:1/xmppd")
    assert "sup3rsecret" not in str(info.value)
    assert "sup3rsecret" not in repr(info.value.__cause__)


@pytest.mark.postgres
async def test_a_missing_postgresql_database_or_role_raises_storage_error(postgresql_server: URL) -> None:
    for url in (
        postgresql_server.set(database="xmppd_no_such_database_here"),
        postgresql_server.set(username="xmppd_no_such_role_here", password="sup3rsecret"),
    ):
        with pytest.raises(StorageError) as info:
            await open_storage(url.render_as_string(hide_password=False))
        assert "sup3rsecret" not in str(info.value)


# -- no passwords --------------------------------------------------------------------------------------------

PASSWORD = "pencil"


def _holds(value: Any, needle: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return any(needle.encode(codec) in data for codec in ("utf-8", "utf-16-le", "utf-16-be"))
    return needle in str(value)


async def test_the_password_is_never_stored(sql_backend: Backend) -> None:
    async with await sql_backend.open() as storage:
        await create_account(storage, HOST, "alice", PASSWORD)
        await create_account(storage, HOST, "pencil-pusher", "another pencil")
        await set_password(storage, HOST, "pencil-pusher", "pencil sharpener")

        account = await storage.accounts.get(HOST, "alice")
        assert account is not None
        # The keys are real: they verify the password without being it.
        assert {keys.hash_name for keys in account.keys} == {"sha1", "sha256"}
        assert all(verify_password(PASSWORD, keys) for keys in account.keys)
        assert not any(verify_password("pen", keys) for keys in account.keys)

    values = await every_value(sql_backend.url)
    assert "alice" in values  # the scan does see the rows
    offending = [value for value in values if _holds(value, PASSWORD) and value != "pencil-pusher"]
    assert offending == []
    for needle in ("another pencil", "sharpener"):
        assert not any(_holds(value, needle) for value in values)

    # Only salted keys: the columns of the key table are these and no others.
    tables = await reflect(sql_backend.url)
    assert {c.name for c in tables.tables["scram_keys"].columns} == {
        "host",
        "username",
        "hash_name",
        "salt",
        "iterations",
        "stored_key",
        "server_key",
    }
    assert {c.name for c in tables.tables["accounts"].columns} == {"host", "username", "created"}


async def test_accounts_hold_keys_not_passwords(storage: Storage) -> None:
    account = await create_account(storage, HOST, "alice", PASSWORD)
    assert account == await storage.accounts.get(HOST, "alice")
    assert not _holds(repr(account), PASSWORD)
    for keys in account.keys:
        for value in (keys.salt, keys.stored_key, keys.server_key):
            assert not _holds(value, PASSWORD)


# -- opening and closing ------------------------------------------------------------------------------------


async def test_opening_waits_for_another_writer_of_a_new_sqlite_file(tmp_path: Path) -> None:
    # Another process (an older xmppd, `xmppd user add`, the sqlite3 shell) is writing to a database still in
    # rollback-journal mode. Switching it to WAL needs that writer gone, and SQLite does not wait for it on its
    # own: opening must wait, not fail with "database is locked".
    path = tmp_path / "xmppd.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE unrelated (x INTEGER)")
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, other.execute, "COMMIT")
        started = loop.time()
        async with await open_storage(f"sqlite:///{path}") as storage:
            assert loop.time() - started >= 0.15
            await storage.accounts.create(HOST, "alice", [])
            assert await storage.accounts.list(HOST) == ["alice"]
    finally:
        other.close()
    assert (await versions(f"sqlite:///{path}"))[-1][0] == LATEST


@pytest.mark.postgres
async def test_a_role_owning_its_schema_needs_no_create_privilege_on_the_database(
    postgresql_server: URL,
) -> None:
    # The least-privilege deployment: the administrator creates the schema for xmppd's role, which may not
    # create schemas in the database itself.
    suffix = uuid.uuid4().hex
    role, schema = f"xmppd_test_role_{suffix}", f"xmppd_test_owned_{suffix}"
    admin = await connect_admin()
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        url = postgresql_server.set(username=role, password=None).update_query_dict({"schema": schema})
        async with await open_storage(url.render_as_string()) as storage:
            await storage.accounts.create(HOST, "alice", [])
            assert await storage.accounts.list(HOST) == ["alice"]
        async with await open_storage(url.render_as_string()) as storage:
            assert await storage.accounts.list(HOST) == ["alice"]
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_closing_twice_is_harmless(backend: Backend) -> None:
    storage = await backend.open()
    await storage.accounts.create(HOST, "alice", [])
    await storage.close()
    await storage.close()


async def test_each_memory_storage_starts_empty() -> None:
    async with await open_storage("memory://") as first:
        await first.accounts.create(HOST, "alice", [])
        await first.keyval.set(HOST, "alice", "private", "k", b"v")
        async with await open_storage("memory://") as second:
            assert await second.accounts.count(HOST) == 0
            assert await second.keyval.get(HOST, "alice", "private", "k") is None
