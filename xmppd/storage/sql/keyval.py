"""``KeyValueStore`` on SQL: one row of the ``keyval`` table per value.

Concurrent ``set`` calls share transactions (``GroupCommit``): when many sessions end together, each records its
last activity, and one transaction per value would queue them behind one another for seconds. The values of a
batch are written in the order the calls came, so of two values for one key the later one stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, delete, select

from xmppd.storage.sql.engine import Database, GroupCommit
from xmppd.storage.sql.schema import keyval, matching

_VALUE_KEY: Final = ("host", "username", "store", "key")


class SQLKeyValueStore:
    """Values in the ``keyval`` table, keyed by (host, username, store, key)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy caches each statement's compiled form, asyncpg its prepared statement.
        self._get = select(keyval.c.value).where(matching(keyval, *_VALUE_KEY))
        self._set = db.upsert(keyval, _VALUE_KEY)
        self._delete = delete(keyval).where(matching(keyval, *_VALUE_KEY))
        self._keys = select(keyval.c.key).where(matching(keyval, "host", "username", "store"))
        self._delete_user = delete(keyval).where(matching(keyval, "host", "username"))
        self._writes: GroupCommit[Mapping[str, Any], None] = GroupCommit(db, self._set_batch)

    async def get(self, host: str, username: str, store: str, key: str) -> bytes | None:
        params = {"host": host, "username": username, "store": store, "key": key}
        rows = await self._db.fetch(self._get, params)
        value = rows[0][0] if rows else None
        return None if value is None else bytes(value)

    async def set(self, host: str, username: str, store: str, key: str, value: bytes) -> None:
        params = {"host": host, "username": username, "store": store, "key": key, "value": bytes(value)}
        await self._writes.submit(params)

    def _set_batch(self, conn: Connection, batch: Sequence[Mapping[str, Any]]) -> list[None]:
        """In ``conn``'s transaction: every value of ``batch``, in order (one statement for all of them)."""
        conn.execute(self._set, list(batch))
        return [None] * len(batch)

    async def delete(self, host: str, username: str, store: str, key: str) -> bool:
        params = {"host": host, "username": username, "store": store, "key": key}
        async with self._db.write() as conn:
            result = await conn.execute(self._delete, params)
        return result.rowcount > 0

    async def keys(self, host: str, username: str, store: str) -> list[str]:
        params = {"host": host, "username": username, "store": store}
        keys = [row[0] for row in await self._db.fetch(self._keys, params)]
        # Sorted here, not by ORDER BY: PostgreSQL would sort by the database's collation, not by code point.
        return sorted(keys)

    async def delete_user(self, host: str, username: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(self._delete_user, {"host": host, "username": username})
        return result.rowcount
