"""The ``AccountStore`` contract, on every backend."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.storage.conftest import Backend
from xmppd.accounts import create_account, delete_account, set_password
from xmppd.config import AuthSection
from xmppd.sasl import HashName, ScramKeys
from xmppd.sasl.scram import DEFAULT_ITERATIONS, verify_password
from xmppd.storage import Storage
from xmppd.storage.accounts import Account, AccountExists

HOST = "example.org"


def keys(hash_name: HashName, iterations: int = 4096) -> ScramKeys:
    """Random keys of the right sizes: the store must keep them byte for byte, whatever they are."""
    size = 20 if hash_name == "sha1" else 32
    return ScramKeys(hash_name, os.urandom(16), iterations, os.urandom(size), os.urandom(size))


def both(iterations: int = 4096) -> tuple[ScramKeys, ScramKeys]:
    return keys("sha256", iterations), keys("sha1", iterations)


# -- create and get ------------------------------------------------------------------------------------------


async def test_create_returns_the_account_and_get_finds_it(storage: Storage) -> None:
    sha256, sha1 = both()
    before = datetime.now(UTC)
    account = await storage.accounts.create(HOST, "alice", [sha256, sha1])
    after = datetime.now(UTC)

    assert account.host == HOST and account.username == "alice"
    # Sorted by hash name, whatever order they came in.
    assert account.keys == (sha1, sha256)
    assert account.created.tzinfo is not None and account.created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= account.created <= after + timedelta(seconds=1)
    assert await storage.accounts.get(HOST, "alice") == account


async def test_keys_round_trip_exactly(storage: Storage) -> None:
    # Bytes that text columns or encodings would mangle: NUL, 0xff, high bit set.
    sha1 = ScramKeys("sha1", b"\x00\xff\x80salt\x00", 4096, b"\x00" * 20, b"\xff" * 20)
    sha256 = ScramKeys("sha256", os.urandom(64), 2_000_000, os.urandom(32), os.urandom(32))
    await storage.accounts.create(HOST, "alice", [sha1, sha256])

    account = await storage.accounts.get(HOST, "alice")
    assert account is not None
    assert account.keys == (sha1, sha256)
    assert account.keys_for("sha1") == sha1
    assert account.keys_for("sha256") == sha256
    for stored in account.keys:
        assert type(stored.salt) is bytes and type(stored.stored_key) is bytes
        assert type(stored.server_key) is bytes and type(stored.iterations) is int


async def test_an_account_may_have_one_hash_or_none(storage: Storage) -> None:
    only_sha256 = keys("sha256")
    await storage.accounts.create(HOST, "one", [only_sha256])
    await storage.accounts.create(HOST, "none", [])

    one = await storage.accounts.get(HOST, "one")
    none = await storage.accounts.get(HOST, "none")
    assert one is not None and one.keys == (only_sha256,)
    assert one.keys_for("sha1") is None
    assert none is not None and none.keys == ()
    assert await storage.accounts.count(HOST) == 2


async def test_get_of_a_missing_account_is_none(storage: Storage) -> None:
    assert await storage.accounts.get(HOST, "nobody") is None
    await storage.accounts.create(HOST, "alice", both())
    assert await storage.accounts.get(HOST, "nobody") is None
    assert await storage.accounts.get("other.example", "alice") is None


async def test_create_of_an_existing_account_raises_and_keeps_its_keys(storage: Storage) -> None:
    original = await storage.accounts.create(HOST, "alice", both())

    with pytest.raises(AccountExists) as info:
        await storage.accounts.create(HOST, "alice", both())
    assert info.value.host == HOST and info.value.username == "alice"
    with pytest.raises(AccountExists):
        await storage.accounts.create(HOST, "alice", [])

    assert await storage.accounts.get(HOST, "alice") == original
    assert await storage.accounts.count(HOST) == 1


async def test_concurrent_creates_of_one_account_let_exactly_one_win(storage: Storage) -> None:
    attempts = [both() for _ in range(5)]
    results = await asyncio.gather(
        *(storage.accounts.create(HOST, "alice", attempt) for attempt in attempts), return_exceptions=True
    )

    winners = [result for result in results if isinstance(result, Account)]
    assert len(winners) == 1
    assert all(isinstance(result, AccountExists) for result in results if result is not winners[0])
    assert await storage.accounts.get(HOST, "alice") == winners[0]


@pytest.mark.parametrize(
    "duplicated",
    [
        [keys("sha1"), keys("sha1")],
        [keys("sha256"), keys("sha1"), keys("sha256", 8192)],
    ],
)
async def test_create_with_two_keys_for_one_hash_raises_value_error(
    storage: Storage, duplicated: list[ScramKeys]
) -> None:
    with pytest.raises(ValueError, match="sha"):
        await storage.accounts.create(HOST, "alice", duplicated)
    assert await storage.accounts.get(HOST, "alice") is None
    assert await storage.accounts.count(HOST) == 0


# -- set_keys ------------------------------------------------------------------------------------------------


async def test_set_keys_replaces_every_key(storage: Storage) -> None:
    created = await storage.accounts.create(HOST, "alice", both())
    new_sha1, new_sha256 = keys("sha1", 10_000), keys("sha256", 10_000)

    assert await storage.accounts.set_keys(HOST, "alice", [new_sha256, new_sha1]) is True
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None
    assert account.keys == (new_sha1, new_sha256)
    assert account.created == created.created

    # Fewer keys than before: the one left out is gone, not kept.
    assert await storage.accounts.set_keys(HOST, "alice", [new_sha256]) is True
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None and account.keys == (new_sha256,)

    assert await storage.accounts.set_keys(HOST, "alice", []) is True
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None and account.keys == ()


async def test_set_keys_of_a_missing_account_is_false_and_creates_nothing(storage: Storage) -> None:
    assert await storage.accounts.set_keys(HOST, "nobody", both()) is False
    assert await storage.accounts.get(HOST, "nobody") is None
    assert await storage.accounts.count(HOST) == 0


async def test_set_keys_with_two_keys_for_one_hash_raises_and_changes_nothing(storage: Storage) -> None:
    original = await storage.accounts.create(HOST, "alice", both())
    with pytest.raises(ValueError, match="sha256"):
        await storage.accounts.set_keys(HOST, "alice", [keys("sha256"), keys("sha256")])
    assert await storage.accounts.get(HOST, "alice") == original


async def test_set_keys_touches_only_its_account(storage: Storage) -> None:
    alice = await storage.accounts.create(HOST, "alice", both())
    other_host = await storage.accounts.create("other.example", "bob", both())
    await storage.accounts.create(HOST, "bob", both())

    await storage.accounts.set_keys(HOST, "bob", both(5000))
    assert await storage.accounts.get(HOST, "alice") == alice
    assert await storage.accounts.get("other.example", "bob") == other_host


# -- delete --------------------------------------------------------------------------------------------------


async def test_delete_removes_the_account_and_its_keys(storage: Storage) -> None:
    await storage.accounts.create(HOST, "alice", both())
    bob = await storage.accounts.create(HOST, "bob", both())

    assert await storage.accounts.delete(HOST, "alice") is True
    assert await storage.accounts.get(HOST, "alice") is None
    assert await storage.accounts.list(HOST) == ["bob"]
    assert await storage.accounts.get(HOST, "bob") == bob

    # The name is free again, and nothing of the old keys comes back with it.
    fresh = keys("sha256")
    await storage.accounts.create(HOST, "alice", [fresh])
    again = await storage.accounts.get(HOST, "alice")
    assert again is not None and again.keys == (fresh,)


async def test_delete_of_a_missing_account_is_false(storage: Storage) -> None:
    assert await storage.accounts.delete(HOST, "nobody") is False
    await storage.accounts.create(HOST, "alice", both())
    assert await storage.accounts.delete(HOST, "alice") is True
    assert await storage.accounts.delete(HOST, "alice") is False
    assert await storage.accounts.delete("other.example", "alice") is False


# -- count and list ------------------------------------------------------------------------------------------


async def test_count_and_list_of_an_empty_host(storage: Storage) -> None:
    assert await storage.accounts.count(HOST) == 0
    assert await storage.accounts.list(HOST) == []


async def test_list_is_sorted_by_code_point(storage: Storage) -> None:
    # A collation would put "B" after "a", "é" next to "e", and might ignore "_" or case.
    names = ["b", "Zed", "é", "a", "_x", "B", "e", "ab", "a_b", "\u4e2d", "\U0001f600", "aa", "0", "z"]
    for name in names:
        await storage.accounts.create(HOST, name, [])

    assert await storage.accounts.list(HOST) == sorted(names)
    assert await storage.accounts.count(HOST) == len(names)


async def test_hosts_are_isolated(storage: Storage) -> None:
    here = await storage.accounts.create(HOST, "alice", both())
    there = await storage.accounts.create("other.example", "alice", both())
    await storage.accounts.create("other.example", "carol", [])

    assert here != there
    assert await storage.accounts.get(HOST, "alice") == here
    assert await storage.accounts.get("other.example", "alice") == there
    assert await storage.accounts.count(HOST) == 1
    assert await storage.accounts.count("other.example") == 2
    assert await storage.accounts.list(HOST) == ["alice"]
    assert await storage.accounts.list("other.example") == ["alice", "carol"]

    assert await storage.accounts.delete("other.example", "alice") is True
    assert await storage.accounts.get(HOST, "alice") == here


async def test_usernames_are_compared_as_plain_strings(storage: Storage) -> None:
    # Usernames arrive prepared; the store must not fold case, normalize or trim them.
    for name in ("alice", "Alice", "alice ", "ALICE", "\u00e9", "e\u0301"):
        await storage.accounts.create(HOST, name, [])
    assert await storage.accounts.count(HOST) == 6
    assert await storage.accounts.get(HOST, "alIce") is None


UNUSUAL_NAMES = (
    "jürgen",
    "\u4e2d\u6587",
    "\u0440\u0443\u0441",
    "emoji\U0001f600",
    "a'b\"c;--",
    "%_*",
    "x" * 1023,
)
"""Non-ASCII (two, three and four UTF-8 bytes), SQL quoting and LIKE wildcards, a long name."""


async def test_unusual_usernames(storage: Storage) -> None:
    created = {name: await storage.accounts.create(HOST, name, both()) for name in UNUSUAL_NAMES}
    assert await storage.accounts.list(HOST) == sorted(UNUSUAL_NAMES)
    for name, account in created.items():
        assert await storage.accounts.get(HOST, name) == account
    for name in UNUSUAL_NAMES:
        only_sha1 = keys("sha1")
        assert await storage.accounts.set_keys(HOST, name, [only_sha1]) is True
        account = await storage.accounts.get(HOST, name)
        assert account is not None and account.keys == (only_sha1,)
        assert await storage.accounts.delete(HOST, name) is True
        assert await storage.accounts.get(HOST, name) is None
    assert await storage.accounts.count(HOST) == 0


# -- durability ----------------------------------------------------------------------------------------------


async def test_writes_are_committed_when_they_return(sql_backend: Backend) -> None:
    first = await sql_backend.open()
    try:
        alice = await first.accounts.create(HOST, "alice", both())
        await first.accounts.create(HOST, "bob", both())
        async with await sql_backend.open() as second:
            assert await second.accounts.get(HOST, "alice") == alice
            assert await second.accounts.list(HOST) == ["alice", "bob"]

        new_keys = (keys("sha1", 9999),)
        assert await first.accounts.set_keys(HOST, "alice", new_keys) is True
        assert await first.accounts.delete(HOST, "bob") is True
        async with await sql_backend.open() as second:
            reopened = await second.accounts.get(HOST, "alice")
            assert reopened is not None and reopened.keys == new_keys
            assert await second.accounts.get(HOST, "bob") is None
            assert await second.accounts.count(HOST) == 1
    finally:
        await first.close()

    # And once the first is closed, everything is still there.
    async with await sql_backend.open() as third:
        reopened = await third.accounts.get(HOST, "alice")
        assert reopened is not None and reopened.created == alice.created


# -- the helpers of xmppd/accounts.py, which derive the keys -------------------------------------------------


async def test_keys_are_derived_with_at_least_4096_iterations_by_default(storage: Storage) -> None:
    assert DEFAULT_ITERATIONS >= 4096
    assert AuthSection().scram_iterations >= 4096
    account = await create_account(storage, HOST, "alice", "pencil")

    assert [item.hash_name for item in account.keys] == ["sha1", "sha256"]
    for item in account.keys:
        assert item.iterations == DEFAULT_ITERATIONS
        assert len(item.salt) >= 16
        assert len(item.stored_key) == len(item.server_key) == (20 if item.hash_name == "sha1" else 32)
        assert verify_password("pencil", item)
    # A fresh salt per hash and per account.
    other = await create_account(storage, HOST, "bob", "pencil")
    salts = [item.salt for item in (*account.keys, *other.keys)]
    assert len(set(salts)) == len(salts)


async def test_the_iteration_count_is_configurable(storage: Storage) -> None:
    await create_account(storage, HOST, "alice", "pencil", 5000)
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None and [item.iterations for item in account.keys] == [5000, 5000]

    assert await set_password(storage, HOST, "alice", "pen", 6000) is True
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None and [item.iterations for item in account.keys] == [6000, 6000]
    assert all(verify_password("pen", item) and not verify_password("pencil", item) for item in account.keys)

    assert await set_password(storage, HOST, "alice", "pencil") is True
    account = await storage.accounts.get(HOST, "alice")
    assert account is not None and {item.iterations for item in account.keys} == {DEFAULT_ITERATIONS}


async def test_the_helpers_prepare_the_username(storage: Storage) -> None:
    await create_account(storage, HOST, "J\u00fcrgen", "pencil")
    assert await storage.accounts.list(HOST) == ["j\u00fcrgen"]
    with pytest.raises(AccountExists):
        await create_account(storage, HOST, "j\u00fcrgen", "pencil")
    assert await set_password(storage, HOST, "nobody", "pencil") is False


async def test_delete_account_removes_the_data_of_every_store(storage: Storage) -> None:
    await create_account(storage, HOST, "alice", "pencil")
    await create_account(storage, HOST, "bob", "pencil")
    for user in ("alice", "bob"):
        await storage.keyval.set(HOST, user, "private", "k", b"v")
        await storage.keyval.set(HOST, user, "vcard", "current", b"v")

    assert await delete_account(storage, HOST, "Alice") is True
    assert await storage.accounts.get(HOST, "alice") is None
    assert await storage.keyval.keys(HOST, "alice", "private") == []
    assert await storage.keyval.keys(HOST, "alice", "vcard") == []
    assert await storage.keyval.get(HOST, "bob", "private", "k") == b"v"
    assert await storage.accounts.list(HOST) == ["bob"]
    assert await delete_account(storage, HOST, "alice") is False
