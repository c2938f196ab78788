"""Schema version 1: accounts with their SCRAM keys, and the key/value store.

A migration is history: it keeps its own table definitions as they were at this version, whatever
``schema.py`` says today.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)


def upgrade(conn: Connection) -> None:
    """Create the tables of version 1."""
    metadata = MetaData()
    Table(
        "accounts",
        metadata,
        Column("host", Text, primary_key=True),
        Column("username", Text, primary_key=True),
        Column("created", DateTime(timezone=True), nullable=False),
    )
    Table(
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
    Table(
        "keyval",
        metadata,
        Column("host", Text, primary_key=True),
        Column("username", Text, primary_key=True),
        Column("store", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("value", LargeBinary, nullable=False),
    )
    metadata.create_all(conn, checkfirst=False)
