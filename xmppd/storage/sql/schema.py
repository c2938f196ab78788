"""The tables the SQL stores query, one section per store.

This is the schema as it is after the last migration; the migrations in ``migrations/`` create and change it,
and a test checks that the two agree. Changing a table here means adding a migration.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back timezone-aware.

    PostgreSQL keeps ``timestamp with time zone``; SQLite keeps text without an offset, always UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored: its time zone is unknown")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def matching(table: Table, *names: str) -> ColumnElement[bool]:
    """``table.name = :name AND ...`` for each of ``names``: rows picked by bound parameters so named."""
    return and_(*(table.c[name] == bindparam(name) for name in names))


# -- accounts ----------------------------------------------------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("host", Text, primary_key=True),
    Column("username", Text, primary_key=True),
    Column("created", UTCDateTime, nullable=False),
)

scram_keys = Table(
    "scram_keys",
    metadata,
    Column("host", Text, primary_key=True),
    Column("username", Text, primary_key=True),
    Column("hash_name", Text, primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("iterations", Integer, nullable=False),
    Column("stored_key", LargeBinary, nullable=False),
    Column("server_key", LargeBinary, nullable=False),
    ForeignKeyConstraint(
        ["host", "username"],
        ["accounts.host", "accounts.username"],
        ondelete="CASCADE",
        name="scram_keys_account",
    ),
)

# -- keyval ------------------------------------------------------------------------------------------------

keyval = Table(
    "keyval",
    metadata,
    Column("host", Text, primary_key=True),
    Column("username", Text, primary_key=True),
    Column("store", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
