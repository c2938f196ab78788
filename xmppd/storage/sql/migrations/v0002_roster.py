"""Schema version 2: rosters, their versions and tombstones, and pending subscription requests.

A migration is history: it keeps its own table definitions as they were at this version, whatever
``schema.py`` says today.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)


def upgrade(conn: Connection) -> None:
    """Create the roster tables of version 2."""
    metadata = MetaData()
    Table(
        "roster_versions",
        metadata,
        Column("host", Text, primary_key=True),
        Column("username", Text, primary_key=True),
        Column("version", BigInteger, nullable=False),
    )
    Table(
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
    Table(
        "roster_pending",
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("host", Text, nullable=False),
        Column("username", Text, nullable=False),
        Column("jid", Text, nullable=False),
        Column("stanza", LargeBinary, nullable=False),
        UniqueConstraint("host", "username", "jid", name="roster_pending_jid"),
        sqlite_autoincrement=True,
    )
    metadata.create_all(conn, checkfirst=False)
