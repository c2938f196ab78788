"""The SQL backend: every store on SQLite (embedded default) or PostgreSQL, through SQLAlchemy Core."""

from __future__ import annotations

import contextlib

from xmppd.errors import StorageError
from xmppd.storage import Storage
from xmppd.storage.sql.accounts import SQLAccountStore
from xmppd.storage.sql.engine import Database, create_database
from xmppd.storage.sql.keyval import SQLKeyValueStore
from xmppd.storage.sql.migrations import migrate
from xmppd.storage.sql.offline import SQLOfflineStore
from xmppd.storage.sql.roster import SQLRosterStore

__all__ = [
    "Database",
    "SQLAccountStore",
    "SQLKeyValueStore",
    "SQLOfflineStore",
    "SQLRosterStore",
    "create_database",
    "open_sql_storage",
]


async def open_sql_storage(url: str) -> Storage:
    """Connect to ``url``, migrate the schema to the latest version, and return every store on it.

    ``Database.prepare`` runs first (on SQLite it switches the file to WAL mode). Raises ``StorageError`` (see
    ``create_database``, ``Database.prepare`` and ``migrate``).
    """
    db = create_database(url)
    try:
        await db.prepare()
        await migrate(db)
    except BaseException:
        with contextlib.suppress(StorageError):  # the reason it failed matters more
            await db.close()
        raise
    return Storage(
        accounts=SQLAccountStore(db),
        keyval=SQLKeyValueStore(db),
        roster=SQLRosterStore(db),
        offline=SQLOfflineStore(db),
        on_close=db.close,
    )
