"""The store contract suite runs every test on every backend: memory, SQLite (a temporary file) and PostgreSQL.

Each PostgreSQL test gets a schema of its own (``?schema=NAME``, created by the migrations when the store opens)
in an existing database, dropped afterwards. The server is found at ``XMPPD_TEST_POSTGRESQL`` (a
``postgresql://`` URL without ``schema``), by default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust
authentication. When it cannot be reached, the PostgreSQL tests fail under CI (``CI`` set) and are skipped
elsewhere with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import URL, Connection, Engine, event, make_url
from sqlalchemy.exc import OperationalError

from xmppd.storage import Storage, open_storage

POSTGRESQL_URL = os.environ.get("XMPPD_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/postgres")

ALL_BACKENDS = ("memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))
SQL_BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))

#: None until the first PostgreSQL test asks; then "" when the server answered, or why it did not.
_postgresql_problem: str | None = None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


async def connect_admin() -> asyncpg.Connection:
    """A plain asyncpg connection to the test database, for creating and dropping test schemas."""
    return await asyncpg.connect(POSTGRESQL_URL, timeout=5)


async def _require_postgresql() -> None:
    global _postgresql_problem
    if _postgresql_problem is None:
        try:
            conn = await connect_admin()
        except (OSError, asyncpg.PostgresError) as exc:
            _postgresql_problem = (
                f"PostgreSQL at {POSTGRESQL_URL} is not reachable ({type(exc).__name__}: {exc})"
            )
        else:
            await conn.close()
            _postgresql_problem = ""
    if _postgresql_problem:
        if in_ci():
            pytest.fail(f"{_postgresql_problem} (CI is set: the PostgreSQL contract tests must run)")
        pytest.skip(_postgresql_problem)


@dataclass
class Backend:
    """Where one test's data lives: ``open()`` gives a fresh ``Storage`` on it each time."""

    name: str
    url: str

    async def open(self) -> Storage:
        return await open_storage(self.url)


@pytest.fixture
async def postgresql_server() -> URL:
    """The URL of the test PostgreSQL database, once it has answered (see the module docstring)."""
    await _require_postgresql()
    return make_url(POSTGRESQL_URL)


@pytest.fixture
async def _postgresql_schema() -> AsyncIterator[str]:
    """A schema name no other test uses; the schema (if a store created it) is dropped afterwards."""
    await _require_postgresql()
    # Mixed case, so that every test also checks that the name keeps its case wherever it is used.
    name = f"Xmppd_Test_{uuid.uuid4().hex}"
    yield name
    conn = await connect_admin()
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


def _sql_url(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'xmppd.db'}"
    schema: str = request.getfixturevalue("_postgresql_schema")
    separator = "&" if "?" in POSTGRESQL_URL else "?"
    return f"{POSTGRESQL_URL}{separator}schema={schema}"


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every backend: memory, sqlite, postgresql."""
    name: str = request.param
    if name == "memory":
        return Backend(name, "memory://")
    return Backend(name, _sql_url(name, tmp_path, request))


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backends that keep data outside the process: sqlite, postgresql."""
    name: str = request.param
    return Backend(name, _sql_url(name, tmp_path, request))


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    """An empty ``Storage`` on each backend in turn, closed after the test."""
    async with await backend.open() as opened:
        yield opened


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Grows by one entry for every transaction that any SQL engine commits during the test (reads commit none)."""
    committed: list[int] = []

    def count(conn: Connection) -> None:
        committed.append(1)

    event.listen(Engine, "commit", count)
    yield committed
    event.remove(Engine, "commit", count)


@pytest.fixture
def failing_commits() -> Iterator[list[int]]:
    """While the list holds a number, that many next COMMITs (of any SQL engine) fail as a driver's would."""
    failures: list[int] = []

    def fail(conn: Connection) -> None:
        if failures and failures[0] > 0:
            failures[0] -= 1
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(Engine, "commit", fail)
    yield failures
    event.remove(Engine, "commit", fail)
