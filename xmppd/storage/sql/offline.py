"""``OfflineStore`` on SQL: one row of ``offline_messages`` per message.

Concurrent ``store`` calls share transactions (``GroupCommit``): a message arrives for an offline user at the
rate the senders send, and one transaction per message would cap that rate at what a transaction costs. Each
transaction first takes the lock of every user of its batch (``Database.lock_users``: advisory locks on
PostgreSQL, where READ COMMITTED would let two transactions count the same rows; the write lock on SQLite), then
counts each user's kept messages in one query, decides every message against its limit in the order they came
(counting the ones taken before it in the batch), and inserts the taken ones in that order with one statement.
So concurrent calls for one user, in this process or another, never exceed the limit, and each call returns
once its message is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from xmppd.storage.offline import OfflineMessage
from xmppd.storage.sql.engine import Database, GroupCommit
from xmppd.storage.sql.schema import matching, offline_messages

_USER: Final = ("host", "username")

#: Ids per DELETE statement, and usernames per count: well under the bound-parameter limits of SQLite (32766)
#: and asyncpg (32767).
_CHUNK: Final = 1000

#: The largest BIGINT, the type of the ids.
_MAX_ID: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class _Message:
    """A message waiting for its batch's transaction."""

    host: str
    username: str
    stamp: int
    stanza: bytes
    limit: int


class SQLOfflineStore:
    """Messages in the ``offline_messages`` table; ids come from its autoincrement key."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy caches each statement's compiled form, asyncpg its prepared statement.
        table = offline_messages
        self._count = select(func.count()).select_from(table).where(matching(table, *_USER))
        self._counts = (
            select(table.c.username, func.count())
            .where(
                table.c.host == bindparam("host"),
                table.c.username.in_(bindparam("usernames", expanding=True)),
            )
            .group_by(table.c.username)
        )
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
        self._writes: GroupCommit[_Message, bool] = GroupCommit(db, self._store_batch)

    async def store(self, host: str, username: str, stamp: int, stanza: bytes, limit: int) -> bool:
        if limit <= 0:
            return False
        # bytes() now: a caller's buffer changed while the message waits must not change what is stored.
        return await self._writes.submit(_Message(host, username, stamp, bytes(stanza), limit))

    def _store_batch(self, conn: Connection, batch: Sequence[_Message]) -> list[bool]:
        """In ``conn``'s transaction: store each message of ``batch`` that fits its user's limit, in order."""
        users = {(message.host, message.username) for message in batch}
        self._db.lock_users_sync(conn, "offline", users)
        kept = self._kept(conn, users)
        taken: list[bool] = []
        rows: list[dict[str, object]] = []
        for message in batch:
            user = (message.host, message.username)
            count = kept.get(user, 0)
            if count >= message.limit:
                taken.append(False)
                continue
            kept[user] = count + 1
            taken.append(True)
            rows.append(
                {
                    "host": message.host,
                    "username": message.username,
                    "stamp": message.stamp,
                    "stanza": message.stanza,
                }
            )
        if rows:
            # One statement for many rows; ids are given in the rows' order, the order of storing.
            conn.execute(self._insert, rows)
        return taken

    def _kept(self, conn: Connection, users: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """How many messages each of ``users`` has kept (those with none are left out)."""
        by_host: dict[str, list[str]] = {}
        for host, username in sorted(users):
            by_host.setdefault(host, []).append(username)
        kept: dict[tuple[str, str], int] = {}
        for host, usernames in by_host.items():
            for start in range(0, len(usernames), _CHUNK):
                chunk = usernames[start : start + _CHUNK]
                result = conn.execute(self._counts, {"host": host, "usernames": chunk})
                for username, count in result:
                    kept[host, username] = int(count)
        return kept

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
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                result = await conn.execute(self._delete, {"host": host, "username": username, "ids": chunk})
                removed += result.rowcount
        return removed

    async def delete_user(self, host: str, username: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(self._delete_user, {"host": host, "username": username})
        return result.rowcount
