"""``AccountStore`` on SQL: a row in ``accounts`` per account, a row in ``scram_keys`` per hash."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast, get_args

from sqlalchemy import delete, func, insert, select

from xmppd.sasl import HashName, ScramKeys
from xmppd.storage.accounts import Account, AccountExists, normalize_keys
from xmppd.storage.sql.engine import Database
from xmppd.storage.sql.schema import accounts, matching, scram_keys

log = logging.getLogger(__name__)

_HASH_NAMES: Final[frozenset[str]] = frozenset(get_args(HashName))

_USER: Final = ("host", "username")


class SQLAccountStore:
    """Accounts in the ``accounts`` and ``scram_keys`` tables; deleting an account cascades to its keys."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy caches each statement's compiled form, asyncpg its prepared statement.
        self._insert_account = db.insert_ignore(accounts, _USER)
        self._insert_keys = insert(scram_keys)
        self._select = (
            select(
                accounts.c.created,
                scram_keys.c.hash_name,
                scram_keys.c.salt,
                scram_keys.c.iterations,
                scram_keys.c.stored_key,
                scram_keys.c.server_key,
            )
            .select_from(
                accounts.outerjoin(
                    scram_keys,
                    (scram_keys.c.host == accounts.c.host) & (scram_keys.c.username == accounts.c.username),
                )
            )
            .where(matching(accounts, *_USER))
        )
        # FOR UPDATE on PostgreSQL keeps a concurrent delete out until set_keys commits; SQLite omits it (its
        # BEGIN IMMEDIATE holds the whole database).
        self._lock_account = select(accounts.c.username).where(matching(accounts, *_USER)).with_for_update()
        self._delete_keys = delete(scram_keys).where(matching(scram_keys, *_USER))
        self._delete_account = delete(accounts).where(matching(accounts, *_USER))
        self._count = select(func.count()).select_from(accounts).where(matching(accounts, "host"))
        self._list = select(accounts.c.username).where(matching(accounts, "host"))

    async def create(self, host: str, username: str, keys: Sequence[ScramKeys]) -> Account:
        ordered = normalize_keys(keys)
        created = datetime.now(UTC)
        async with self._db.write() as conn:
            result = await conn.execute(
                self._insert_account, {"host": host, "username": username, "created": created}
            )
            if result.rowcount != 1:
                raise AccountExists(host, username)
            if ordered:
                await conn.execute(self._insert_keys, _key_rows(host, username, ordered))
        return Account(host, username, ordered, created)

    async def get(self, host: str, username: str) -> Account | None:
        # One step on the login path (Database.fetch).
        rows = await self._db.fetch(self._select, {"host": host, "username": username})
        if not rows:
            return None
        keys: builtins.list[ScramKeys] = []
        for row in rows:
            if row.hash_name is None:  # the outer join found an account without keys
                continue
            if row.hash_name not in _HASH_NAMES:
                # COMPAT: a newer xmppd may store hashes this one does not offer; the others still work.
                log.warning("ignoring stored SCRAM keys for unknown hash %r", row.hash_name)
                continue
            keys.append(
                ScramKeys(
                    hash_name=cast(HashName, row.hash_name),
                    salt=bytes(row.salt),
                    iterations=int(row.iterations),
                    stored_key=bytes(row.stored_key),
                    server_key=bytes(row.server_key),
                )
            )
        created: datetime = rows[0].created
        return Account(host, username, normalize_keys(keys), created)

    async def set_keys(self, host: str, username: str, keys: Sequence[ScramKeys]) -> bool:
        ordered = normalize_keys(keys)
        user = {"host": host, "username": username}
        async with self._db.write() as conn:
            if await conn.scalar(self._lock_account, user) is None:
                return False
            await conn.execute(self._delete_keys, user)
            if ordered:
                await conn.execute(self._insert_keys, _key_rows(host, username, ordered))
        return True

    async def delete(self, host: str, username: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(self._delete_account, {"host": host, "username": username})
        return result.rowcount > 0

    async def count(self, host: str) -> int:
        rows = await self._db.fetch(self._count, {"host": host})
        return int(rows[0][0] or 0) if rows else 0

    async def list(self, host: str) -> builtins.list[str]:
        usernames = [row[0] for row in await self._db.fetch(self._list, {"host": host})]
        # Sorted here, not by ORDER BY: PostgreSQL would sort by the database's collation, not by code point.
        return sorted(usernames)


def _key_rows(host: str, username: str, keys: Sequence[ScramKeys]) -> builtins.list[dict[str, Any]]:
    return [
        {
            "host": host,
            "username": username,
            "hash_name": item.hash_name,
            "salt": item.salt,
            "iterations": item.iterations,
            "stored_key": item.stored_key,
            "server_key": item.server_key,
        }
        for item in keys
    ]
