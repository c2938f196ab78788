"""``OfflineStore`` on SQL: one row of ``offline_messages`` per message.

``store`` counts and inserts in one transaction that first takes the user's lock (``Database.lock_user``: an
advisory lock on PostgreSQL, where READ COMMITTED would let two transactions count the same rows; the write lock
on SQLite), so concurrent calls for one user run one after the other and never exceed the limit.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import bindparam, delete, func, insert, select

from xmppd.storage.offline import OfflineMessage
from xmppd.storage.sql.engine import Database
from xmppd.storage.sql.schema import matching, offline_messages

_USER: Final = ("host", "username")

#: Ids per DELETE statement: well under the bound-parameter limits of SQLite (32766) and asyncpg (32767).
_DELETE_CHUNK: Final = 1000

#: The largest BIGINT, the type of the ids.
_MAX_ID: Final = 2**63 - 1


class SQLOfflineStore:
    """Messages in the ``offline_messages`` table; ids come from its autoincrement key."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy caches each statement's compiled form, asyncpg its prepared statement.
        table = offline_messages
        self._count = select(func.count()).select_from(table).where(matching(table, *_USER))
        self._insert = insert(table)
        # ORDER BY in SQL is safe here: integers sort the same under every collation.
        self._fetch = (
            select(table.c.id, table.c.stamp, table.c.stanza)
            .where(matching(table, *_USER))
            .order_by(table.c.stamp, table.c.id)
        )
        self._delete = delete(table).where(
            matching(table, *_USER), table.c.id.in_(bindparam("ids", expanding=True))
        )
        self._delete_user = delete(table).where(matching(table, *_USER))

    async def store(self, host: str, username: str, stamp: int, stanza: bytes, limit: int) -> bool:
        user = {"host": host, "username": username}
        if limit <= 0:
            return False
        async with self._db.write() as conn:
            await self._db.lock_user(conn, "offline", host, username)
            if int(await conn.scalar(self._count, user) or 0) >= limit:
                return False
            await conn.execute(self._insert, {**user, "stamp": stamp, "stanza": bytes(stanza)})
        return True

    async def count(self, host: str, username: str) -> int:
        rows = await self._db.fetch(self._count, {"host": host, "username": username})
        return int(rows[0][0] or 0) if rows else 0

    async def fetch(self, host: str, username: str) -> list[OfflineMessage]:
        rows = await self._db.fetch(self._fetch, {"host": host, "username": username})
        return [OfflineMessage(int(row.id), int(row.stamp), bytes(row.stanza)) for row in rows]

    async def delete(self, host: str, username: str, ids: list[int]) -> int:
        # Ids come from the keys' range (1 up to the largest BIGINT): others name no message, and would not fit
        # the parameter. A client may send any number (XEP-0013 names messages by their id).
        unique = sorted({i for i in ids if 0 < i <= _MAX_ID})
        if not unique:
            return 0
        removed = 0
        async with self._db.write() as conn:
            for start in range(0, len(unique), _DELETE_CHUNK):
                chunk = unique[start : start + _DELETE_CHUNK]
                result = await conn.execute(self._delete, {"host": host, "username": username, "ids": chunk})
                removed += result.rowcount
        return removed

    async def delete_user(self, host: str, username: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(self._delete_user, {"host": host, "username": username})
        return result.rowcount
