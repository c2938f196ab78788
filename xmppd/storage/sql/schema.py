"""The tables the SQL stores query, one section per store.

This is the schema as it is after the last migration; the migrations in ``migrations/`` create and change it,
and a test checks that the two agree. Changing a table here means adding a migration.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
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


#: A 64-bit key that autoincrements on both dialects: BIGSERIAL on PostgreSQL; on SQLite only an INTEGER PRIMARY
#: KEY is the rowid, and the tables that use it say ``sqlite_autoincrement`` so that a deleted id is never
#: handed out again (a client holding an old id must not delete a new row by it).
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def matching(table: Table, *names: str, prefix: str = "") -> ColumnElement[bool]:
    """``table.name = :name AND ...`` for each of ``names``: rows picked by bound parameters so named.

    An UPDATE reserves the column names for its SET values: its WHERE takes ``prefix`` (``:w_name``).
    """
    return and_(*(table.c[name] == bindparam(prefix + name) for name in names))


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

# -- roster ------------------------------------------------------------------------------------------------
# One row per user in roster_versions: the roster's current version, and the row every roster write locks
# first (PostgreSQL), so that versions are handed out one at a time. One row per (user, contact) in
# roster_items, a tombstone (removed, other columns reset) once the contact is removed; ``version`` is that of
# the row's last change, so changes_since is a range scan of the (host, username, version) index. The groups
# are a JSON array of strings, sorted and without duplicates: they are only ever read and written with their
# item, never queried on their own.

roster_versions = Table(
    "roster_versions",
    metadata,
    Column("host", Text, primary_key=True),
    Column("username", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

roster_items = Table(
    "roster_items",
    metadata,
    Column("host", Text, primary_key=True),
    Column("username", Text, primary_key=True),
    Column("jid", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("removed", Boolean, nullable=False),
    Column("name", Text, nullable=True),
    Column("subscription", Text, nullable=False),
    Column("ask", Boolean, nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("groups", Text, nullable=False),
    Index("roster_items_version", "host", "username", "version", unique=True),
)

roster_pending = Table(
    "roster_pending",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("host", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("jid", Text, nullable=False),
    Column("stanza", LargeBinary, nullable=False),
    UniqueConstraint("host", "username", "jid", name="roster_pending_jid"),
    sqlite_autoincrement=True,
)

# -- offline -----------------------------------------------------------------------------------------------

offline_messages = Table(
    "offline_messages",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("host", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("stamp", BigInteger, nullable=False),
    Column("stanza", LargeBinary, nullable=False),
    Index("offline_messages_user", "host", "username", "stamp", "id"),
    sqlite_autoincrement=True,
)
