"""``Storage.delete_user`` and ``delete_account``: nothing of a deleted user is left in any store, on every backend."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from tests.storage.conftest import Backend
from tests.storage.test_migrations import reflect
from xmppd.accounts import create_account, delete_account
from xmppd.storage import Storage
from xmppd.storage.accounts import Account
from xmppd.storage.roster import Roster, RosterItem
from xmppd.storage.sql import create_database

HOST = "example.org"
OTHER_HOST = "other.example"
KEYVAL_STORES = ("private", "vcard", "blocklist")

#: Every user the tests fill; each test deletes (HOST, "alice") and checks the others are as they were.
USERS = ((HOST, "alice"), (HOST, "bob"), (OTHER_HOST, "alice"), (HOST, "alice2"))


async def fill(storage: Storage, host: str, username: str) -> None:
    """Give the user something in every store: an account, values, a roster with a tombstone, requests, messages."""
    await create_account(storage, host, username, "pencil", iterations=1)
    for store in KEYVAL_STORES:
        await storage.keyval.set(host, username, store, "k", f"{store} of {username}@{host}".encode())
    await storage.roster.put_item(host, username, RosterItem("romeo@example.net", groups=("Friends",)))
    await storage.roster.put_item(host, username, RosterItem("tybalt@example.com"))
    await storage.roster.remove_item(host, username, "tybalt@example.com")
    await storage.roster.add_pending(host, username, "nurse@example.com", b"<presence type='subscribe'/>")
    for stamp in (2, 1):
        await storage.offline.store(host, username, stamp, f"<message>{stamp}</message>".encode(), 10)


async def snapshot(storage: Storage, host: str, username: str) -> dict[str, Any]:
    """Everything the stores hold for the user, by what each store's Protocol can tell."""
    return {
        "account": await storage.accounts.get(host, username),
        "keyval": {
            store: {key: await storage.keyval.get(host, username, store, key) for key in keys}
            for store in KEYVAL_STORES
            if (keys := await storage.keyval.keys(host, username, store))
        },
        "roster": await storage.roster.get_roster(host, username),
        "roster changes": await storage.roster.changes_since(host, username, 0),
        "pending": await storage.roster.get_pending(host, username),
        "offline": await storage.offline.fetch(host, username),
        "offline count": await storage.offline.count(host, username),
    }


def is_empty(found: dict[str, Any], account: Account | None = None) -> bool:
    return found == {
        "account": account,
        "keyval": {},
        "roster": Roster(0, ()),
        "roster changes": [],
        "pending": [],
        "offline": [],
        "offline count": 0,
    }


def test_these_tests_know_every_store() -> None:
    # A store added to Storage must be added to delete_user, to fill() and snapshot() above, and here.
    assert {f.name for f in dataclasses.fields(Storage)} == {
        "accounts",
        "keyval",
        "roster",
        "offline",
        "on_close",
    }


async def test_delete_user_leaves_nothing_of_the_user_and_the_others_untouched(storage: Storage) -> None:
    for host, username in USERS:
        await fill(storage, host, username)
    before = {user: await snapshot(storage, *user) for user in USERS}
    assert not any(is_empty(found, found["account"]) for found in before.values())

    await storage.delete_user(HOST, "alice")

    after = await snapshot(storage, HOST, "alice")
    # The account itself is for accounts.delete (delete_account does both).
    assert after["account"] == before[HOST, "alice"]["account"] is not None
    assert is_empty(after, after["account"])
    for user in USERS[1:]:
        assert await snapshot(storage, *user) == before[user], user

    # Deleting again, or a user with nothing, is harmless.
    await storage.delete_user(HOST, "alice")
    await storage.delete_user(HOST, "nobody")
    for user in USERS[1:]:
        assert await snapshot(storage, *user) == before[user], user


async def test_delete_account_removes_the_account_and_its_data(storage: Storage) -> None:
    for host, username in USERS:
        await fill(storage, host, username)
    before = {user: await snapshot(storage, *user) for user in USERS}

    assert await delete_account(storage, HOST, "Alice") is True
    assert is_empty(await snapshot(storage, HOST, "alice"))
    for user in USERS[1:]:
        assert await snapshot(storage, *user) == before[user], user
    assert await delete_account(storage, HOST, "alice") is False

    # A new account of the same name starts with nothing.
    await create_account(storage, HOST, "alice", "pencil", iterations=1)
    assert is_empty(await snapshot(storage, HOST, "alice"), await storage.accounts.get(HOST, "alice"))


async def rows_of(url: str, host: str, username: str) -> dict[str, int]:
    """How many rows of each table (every table there is, not only those the stores name) belong to the user."""
    tables = await reflect(url)
    db = create_database(url)
    found: dict[str, int] = {}
    try:
        async with db.read() as conn:
            for table in tables.sorted_tables:
                if "host" not in table.c or "username" not in table.c:
                    continue
                query = select(table).where(table.c.host == host, table.c.username == username)
                if count := len((await conn.execute(query)).all()):
                    found[table.name] = count
    finally:
        await db.close()
    return found


async def test_no_table_keeps_a_row_of_a_deleted_user(sql_backend: Backend) -> None:
    async with await sql_backend.open() as storage:
        for host, username in USERS:
            await fill(storage, host, username)
    filled = await rows_of(sql_backend.url, HOST, "bob")
    # Every table with rows per user holds some of a filled user: a new one must be filled above too.
    assert set(filled) == {
        name for name, table in (await reflect(sql_backend.url)).tables.items() if "username" in table.c
    }

    async with await sql_backend.open() as storage:
        await storage.delete_user(HOST, "alice")
    assert set(await rows_of(sql_backend.url, HOST, "alice")) == {"accounts", "scram_keys"}

    async with await sql_backend.open() as storage:
        assert await delete_account(storage, HOST, "alice") is True
    assert await rows_of(sql_backend.url, HOST, "alice") == {}
    for host, username in USERS[1:]:
        assert await rows_of(sql_backend.url, host, username) == filled
