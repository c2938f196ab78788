"""``KeyValueStore`` on SQL: one row of the ``keyval`` table per value."""

from __future__ import annotations

from typing import Final

from sqlalchemy import delete, select

from xmppd.storage.sql.engine import Database
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

    async def get(self, host: str, username: str, store: str, key: str) -> bytes | None:
        params = {"host": host, "username": username, "store": store, "key": key}
        rows = await self._db.fetch(self._get, params)
        value = rows[0][0] if rows else None
        return None if value is None else bytes(value)

    async def set(self, host: str, username: str, store: str, key: str, value: bytes) -> None:
        params = {"host": host, "username": username, "store": store, "key": key, "value": bytes(value)}
        async with self._db.write() as conn:
            await conn.execute(self._set, params)

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
