"""Schema version 3: offline messages.

A migration is history: it keeps its own table definitions as they were at this version, whatever
``schema.py`` says today.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, LargeBinary, MetaData, Table, Text


def upgrade(conn: Connection) -> None:
    """Create the offline message table of version 3."""
    metadata = MetaData()
    Table(
        "offline_messages",
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("host", Text, nullable=False),
        Column("username", Text, nullable=False),
        Column("stamp", BigInteger, nullable=False),
        Column("stanza", LargeBinary, nullable=False),
        Index("offline_messages_user", "host", "username", "stamp", "id"),
        sqlite_autoincrement=True,
    )
    metadata.create_all(conn, checkfirst=False)
