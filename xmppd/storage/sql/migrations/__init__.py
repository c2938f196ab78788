"""Numbered schema migrations, applied in order when the SQL backend opens.

The ``schema_version`` table lists every migration applied, one row each. ``migrate`` runs the missing ones
and records them in a single transaction, so a database is at one version or the one before, never in between
(SQLite and PostgreSQL both have transactional DDL). Opening an up-to-date database changes nothing.

To change the schema: add ``vNNNN_what.py`` with an ``upgrade(conn)`` written against the previous version,
list it in ``MIGRATIONS``, and bring ``schema.py`` up to date. Never edit a migration that has been released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    inspect,
    select,
)
from sqlalchemy.schema import CreateSchema

from xmppd.errors import StorageError
from xmppd.storage.sql.engine import Database
from xmppd.storage.sql.migrations import v0001_initial, v0002_roster, v0003_offline
from xmppd.storage.sql.schema import UTCDateTime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``upgrade`` takes version ``version - 1`` to ``version``."""

    version: int
    name: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "initial", v0001_initial.upgrade),
    Migration(2, "roster", v0002_roster.upgrade),
    Migration(3, "offline", v0003_offline.upgrade),
)

#: The schema version this code reads and writes.
LATEST: Final[int] = MIGRATIONS[-1].version

_metadata = MetaData()

schema_version = Table(
    "schema_version",
    _metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied", UTCDateTime, nullable=False),
)

_select_version = select(func.coalesce(func.max(schema_version.c.version), 0))
_lock = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _has_schema(conn: Connection, schema: str) -> bool:
    return inspect(conn).has_schema(schema)


async def migrate(db: Database) -> int:
    """Apply every migration ``db`` lacks; returns the version it had before (0 for a new database).

    Raises ``StorageError`` when the database is at a version newer than ``LATEST`` (a newer xmppd wrote it).
    """
    async with db.write() as conn:
        if db.dialect == "postgresql":
            # Two servers (or a server and `xmppd migrate`) may open one database at once: the second waits
            # here until the first commits, then finds nothing left to do. The lock ends with the transaction.
            await conn.execute(_lock, {"key": db.migration_lock_key})
            # Only when missing: CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database,
            # which a role given a schema of its own by the administrator does not have.
            if db.schema is not None and not await conn.run_sync(_has_schema, db.schema):
                await conn.execute(CreateSchema(db.schema))
        # On SQLite, write() began with BEGIN IMMEDIATE, which serializes migrators the same way.
        await conn.run_sync(_metadata.create_all)
        current = int(await conn.scalar(_select_version) or 0)
        if current > LATEST:
            raise StorageError(
                f"the database schema is at version {current}, newer than this xmppd knows ({LATEST}): "
                "upgrade xmppd"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            await conn.run_sync(migration.upgrade)
            await conn.execute(
                schema_version.insert(),
                {"version": migration.version, "name": migration.name, "applied": datetime.now(UTC)},
            )
    if current < LATEST:
        log.info("storage schema migrated from version %d to %d", current, LATEST)
    return current
