"""``RosterStore`` on SQL: ``roster_versions``, ``roster_items`` (tombstones included) and ``roster_pending``.

Every write to a user's items first takes that user's ``roster_versions`` row (the version bump is an upsert,
``remove_item`` reads it FOR UPDATE), so on PostgreSQL the writers of one roster queue on that row lock and no
two of them can hand out the same version; on SQLite ``BEGIN IMMEDIATE`` serializes every writer anyway. Each
read is one SELECT (the version joined to the items), so a roster and its version always come from one snapshot.
"""

from __future__ import annotations

import json
from typing import Any, Final, cast

from sqlalchemy import Row, and_, bindparam, delete, select, update

from xmppd.storage.roster import (
    PendingRequest,
    Roster,
    RosterChange,
    RosterItem,
    Subscription,
    normalize_item,
)
from xmppd.storage.sql.engine import Database
from xmppd.storage.sql.schema import matching, roster_items, roster_pending, roster_versions

_USER: Final = ("host", "username")
_ITEM: Final = ("host", "username", "jid")

#: The largest BIGINT: versions are stored as one.
_MAX_VERSION: Final = 2**63 - 1


class SQLRosterStore:
    """Rosters in the ``roster_*`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy caches each statement's compiled form, asyncpg its prepared statement.
        versions, items, pending = roster_versions, roster_items, roster_pending
        same_user = and_(items.c.host == versions.c.host, items.c.username == versions.c.username)
        item_columns = (
            items.c.jid,
            items.c.version.label("item_version"),
            items.c.removed,
            items.c.name,
            items.c.subscription,
            items.c.ask,
            items.c.approved,
            items.c.groups,
        )
        # LEFT JOIN from the version row: one row with NULL items for a roster that is empty now.
        self._roster = (
            select(versions.c.version, *item_columns)
            .select_from(versions.outerjoin(items, and_(same_user, items.c.removed.is_(False))))
            .where(matching(versions, *_USER))
        )
        self._changes = (
            select(versions.c.version, *item_columns)
            .select_from(versions.outerjoin(items, and_(same_user, items.c.version > bindparam("since"))))
            .where(matching(versions, *_USER))
        )
        self._item = select(*item_columns).where(matching(items, *_ITEM), items.c.removed.is_(False))
        self._bump = db.upsert_returning(
            versions, _USER, {"version": versions.c.version + 1}, versions.c.version
        )
        self._lock_version = select(versions.c.version).where(matching(versions, *_USER)).with_for_update()
        self._set_version = update(versions).where(matching(versions, *_USER, prefix="w_"))
        self._put = db.upsert(items, _ITEM)
        self._tombstone = (
            update(items)
            .where(matching(items, *_ITEM, prefix="w_"), items.c.removed.is_(False))
            .values(
                version=bindparam("new_version"),
                removed=True,
                name=None,
                subscription="none",
                ask=False,
                approved=False,
                groups="[]",
            )
        )
        self._pending = (
            select(pending.c.jid, pending.c.stanza).where(matching(pending, *_USER)).order_by(pending.c.id)
        )
        self._add_pending = db.insert_ignore(pending, _ITEM)
        self._remove_pending = delete(pending).where(matching(pending, *_ITEM))
        # The version row first, as every other writer does: taking locks in one order cannot deadlock.
        self._delete_user = tuple(
            delete(table).where(matching(table, *_USER)) for table in (versions, items, pending)
        )

    async def get_roster(self, host: str, username: str) -> Roster:
        rows = await self._db.fetch(self._roster, {"host": host, "username": username})
        if not rows:
            return Roster(0, ())
        # Sorted here, not by ORDER BY: PostgreSQL would sort by the database's collation, not by code point.
        items = sorted((_item(row) for row in rows if row.jid is not None), key=lambda item: item.jid)
        return Roster(int(rows[0].version), tuple(items))

    async def get_item(self, host: str, username: str, jid: str) -> RosterItem | None:
        rows = await self._db.fetch(self._item, {"host": host, "username": username, "jid": jid})
        row = rows[0] if rows else None
        return None if row is None else _item(row)

    async def put_item(self, host: str, username: str, item: RosterItem) -> int:
        item = normalize_item(item)
        user = {"host": host, "username": username}
        async with self._db.write() as conn:
            version = int((await conn.execute(self._bump, {**user, "version": 1})).scalar_one())
            await conn.execute(
                self._put,
                {
                    **user,
                    "jid": item.jid,
                    "version": version,
                    "removed": False,
                    "name": item.name,
                    "subscription": item.subscription,
                    "ask": item.ask,
                    "approved": item.approved,
                    "groups": json.dumps(item.groups, ensure_ascii=False, separators=(",", ":")),
                },
            )
        return version

    async def remove_item(self, host: str, username: str, jid: str) -> int | None:
        user = {"host": host, "username": username}
        async with self._db.write() as conn:
            # The version row first, as put_item takes it: the same lock order in every writer.
            current = await conn.scalar(self._lock_version, user)
            if current is None:
                return None
            version = int(current) + 1
            where = {"w_host": host, "w_username": username}
            result = await conn.execute(self._tombstone, {**where, "w_jid": jid, "new_version": version})
            if result.rowcount == 0:
                return None
            await conn.execute(self._set_version, {**where, "version": version})
        return version

    async def changes_since(self, host: str, username: str, version: int) -> list[RosterChange] | None:
        if not 0 <= version <= _MAX_VERSION:
            return None  # not a version any roster had (and not one a BIGINT parameter can carry)
        rows = await self._db.fetch(self._changes, {"host": host, "username": username, "since": version})
        current = int(rows[0].version) if rows else 0
        if version > current:
            return None
        changes = [
            RosterChange(row.jid, int(row.item_version), None if row.removed else _item(row))
            for row in rows
            if row.jid is not None
        ]
        changes.sort(key=lambda change: change.version)
        return changes

    async def get_pending(self, host: str, username: str) -> list[PendingRequest]:
        rows = await self._db.fetch(self._pending, {"host": host, "username": username})
        return [PendingRequest(row.jid, bytes(row.stanza)) for row in rows]

    async def add_pending(self, host: str, username: str, jid: str, stanza: bytes) -> bool:
        params = {"host": host, "username": username, "jid": jid, "stanza": bytes(stanza)}
        async with self._db.write() as conn:
            result = await conn.execute(self._add_pending, params)
        return result.rowcount == 1

    async def remove_pending(self, host: str, username: str, jid: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                self._remove_pending, {"host": host, "username": username, "jid": jid}
            )
        return result.rowcount > 0

    async def delete_user(self, host: str, username: str) -> None:
        async with self._db.write() as conn:
            for statement in self._delete_user:
                await conn.execute(statement, {"host": host, "username": username})


def _item(row: Row[*tuple[Any, ...]]) -> RosterItem:
    groups: list[str] = json.loads(row.groups)
    return RosterItem(
        jid=row.jid,
        name=row.name,
        subscription=cast(Subscription, row.subscription),
        ask=bool(row.ask),
        approved=bool(row.approved),
        groups=tuple(sorted(set(groups))),
    )
