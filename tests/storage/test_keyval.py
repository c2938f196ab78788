"""The ``KeyValueStore`` contract, on every backend."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.storage.conftest import Backend
from xmppd.storage import Storage

HOST = "example.org"


async def test_get_of_a_missing_value_is_none(storage: Storage) -> None:
    assert await storage.keyval.get(HOST, "alice", "vcard", "current") is None


async def test_set_then_get(storage: Storage) -> None:
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"<vCard xmlns='vcard-temp'/>")
    assert await storage.keyval.get(HOST, "alice", "vcard", "current") == b"<vCard xmlns='vcard-temp'/>"


async def test_an_empty_value_is_empty_bytes_not_none(storage: Storage) -> None:
    await storage.keyval.set(HOST, "alice", "private", "empty", b"")
    value = await storage.keyval.get(HOST, "alice", "private", "empty")
    assert value == b"" and value is not None
    assert await storage.keyval.keys(HOST, "alice", "private") == ["empty"]
    assert await storage.keyval.delete(HOST, "alice", "private", "empty") is True
    assert await storage.keyval.get(HOST, "alice", "private", "empty") is None


async def test_set_replaces(storage: Storage) -> None:
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"first")
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"second, and longer")
    assert await storage.keyval.get(HOST, "alice", "vcard", "current") == b"second, and longer"
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"")
    assert await storage.keyval.get(HOST, "alice", "vcard", "current") == b""
    assert await storage.keyval.keys(HOST, "alice", "vcard") == ["current"]


async def test_values_are_returned_as_bytes_and_copied(storage: Storage) -> None:
    # Not what the Protocol types, but what a caller holding a buffer may pass: what was stored must not change.
    source = bytearray(b"original")
    await storage.keyval.set(HOST, "alice", "private", "k", source)  # type: ignore[arg-type]
    source[:] = b"changed!"
    value = await storage.keyval.get(HOST, "alice", "private", "k")
    assert type(value) is bytes and value == b"original"


async def test_binary_values_with_nul_and_every_byte(storage: Storage) -> None:
    every_byte = bytes(range(256)) * 4
    await storage.keyval.set(HOST, "alice", "bin", "every", every_byte)
    await storage.keyval.set(HOST, "alice", "bin", "nul", b"\x00")
    await storage.keyval.set(HOST, "alice", "bin", "nuls", b"a\x00b\x00\x00")
    await storage.keyval.set(HOST, "alice", "bin", "not-utf8", b"\xff\xfe\xc3(")
    assert await storage.keyval.get(HOST, "alice", "bin", "every") == every_byte
    assert await storage.keyval.get(HOST, "alice", "bin", "nul") == b"\x00"
    assert await storage.keyval.get(HOST, "alice", "bin", "nuls") == b"a\x00b\x00\x00"
    assert await storage.keyval.get(HOST, "alice", "bin", "not-utf8") == b"\xff\xfe\xc3("


async def test_large_values(storage: Storage) -> None:
    large = os.urandom(4 * 1024 * 1024)
    await storage.keyval.set(HOST, "alice", "vcard", "photo", large)
    assert await storage.keyval.get(HOST, "alice", "vcard", "photo") == large
    larger = large + os.urandom(1024 * 1024)
    await storage.keyval.set(HOST, "alice", "vcard", "photo", larger)
    assert await storage.keyval.get(HOST, "alice", "vcard", "photo") == larger


async def test_delete(storage: Storage) -> None:
    await storage.keyval.set(HOST, "alice", "private", "a", b"1")
    await storage.keyval.set(HOST, "alice", "private", "b", b"2")

    assert await storage.keyval.delete(HOST, "alice", "private", "a") is True
    assert await storage.keyval.get(HOST, "alice", "private", "a") is None
    assert await storage.keyval.get(HOST, "alice", "private", "b") == b"2"
    assert await storage.keyval.delete(HOST, "alice", "private", "a") is False

    assert await storage.keyval.delete(HOST, "alice", "private", "b") is True
    assert await storage.keyval.keys(HOST, "alice", "private") == []
    # After its last value went, the store and the user work as new.
    await storage.keyval.set(HOST, "alice", "private", "a", b"again")
    assert await storage.keyval.get(HOST, "alice", "private", "a") == b"again"


async def test_delete_of_missing_values_is_false(storage: Storage) -> None:
    assert await storage.keyval.delete(HOST, "nobody", "private", "a") is False
    await storage.keyval.set(HOST, "alice", "private", "a", b"1")
    assert await storage.keyval.delete(HOST, "alice", "private", "b") is False
    assert await storage.keyval.delete(HOST, "alice", "vcard", "a") is False
    assert await storage.keyval.delete(HOST, "bob", "private", "a") is False
    assert await storage.keyval.delete("other.example", "alice", "private", "a") is False
    assert await storage.keyval.get(HOST, "alice", "private", "a") == b"1"


async def test_keys_are_sorted_by_code_point(storage: Storage) -> None:
    # A collation would put "B" after "a", "é" next to "e", "10" after "9", and might ignore "_" or spaces.
    names = [*"bBa_éeZ", "aa", "ab", "a_b", "a b", "10", "9", "\u4e2d", "\U0001f600", "jabber:iq:private"]
    for name in names:
        await storage.keyval.set(HOST, "alice", "private", name, name.encode())
    assert await storage.keyval.keys(HOST, "alice", "private") == sorted(names)
    for name in names:
        assert await storage.keyval.get(HOST, "alice", "private", name) == name.encode()


async def test_keys_of_an_empty_store_is_empty(storage: Storage) -> None:
    assert await storage.keyval.keys(HOST, "alice", "private") == []
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"x")
    assert await storage.keyval.keys(HOST, "alice", "private") == []


@pytest.mark.parametrize(
    "other",
    [
        ("other.example", "alice", "private"),
        (HOST, "bob", "private"),
        (HOST, "alice", "vcard"),
    ],
    ids=["host", "user", "store"],
)
async def test_values_are_isolated_by_host_user_and_store(
    storage: Storage, other: tuple[str, str, str]
) -> None:
    host, user, store = other
    await storage.keyval.set(HOST, "alice", "private", "k", b"mine")
    await storage.keyval.set(host, user, store, "k", b"theirs")
    await storage.keyval.set(host, user, store, "only-theirs", b"x")

    assert await storage.keyval.get(HOST, "alice", "private", "k") == b"mine"
    assert await storage.keyval.get(host, user, store, "k") == b"theirs"
    assert await storage.keyval.keys(HOST, "alice", "private") == ["k"]
    assert await storage.keyval.keys(host, user, store) == ["k", "only-theirs"]

    assert await storage.keyval.delete(host, user, store, "k") is True
    assert await storage.keyval.get(HOST, "alice", "private", "k") == b"mine"


async def test_delete_user_removes_every_store_of_that_user_only(storage: Storage) -> None:
    await storage.keyval.set(HOST, "alice", "private", "a", b"1")
    await storage.keyval.set(HOST, "alice", "private", "b", b"")
    await storage.keyval.set(HOST, "alice", "vcard", "current", b"3")
    await storage.keyval.set(HOST, "alice", "blocklist", "list", b"4")
    await storage.keyval.set(HOST, "bob", "private", "a", b"bob")
    await storage.keyval.set("other.example", "alice", "private", "a", b"elsewhere")

    assert await storage.keyval.delete_user(HOST, "alice") == 4

    for store in ("private", "vcard", "blocklist"):
        assert await storage.keyval.keys(HOST, "alice", store) == []
    assert await storage.keyval.get(HOST, "alice", "private", "a") is None
    assert await storage.keyval.get(HOST, "bob", "private", "a") == b"bob"
    assert await storage.keyval.get("other.example", "alice", "private", "a") == b"elsewhere"

    assert await storage.keyval.delete_user(HOST, "alice") == 0
    assert await storage.keyval.delete_user(HOST, "nobody") == 0


async def test_unusual_names(storage: Storage) -> None:
    names = ("jürgen", "\u4e2d\u6587", "emoji\U0001f600", "a'b\"c;--", "%_*", "x" * 1023)
    for name in names:
        await storage.keyval.set(HOST, name, name, name, name.encode())
        # A name that a LIKE pattern or a prefix match would confuse with it.
        await storage.keyval.set(HOST, name + "x", name, name, b"other")
    for name in names:
        assert await storage.keyval.get(HOST, name, name, name) == name.encode()
        assert await storage.keyval.keys(HOST, name, name) == [name]
        assert await storage.keyval.delete_user(HOST, name) == 1
        assert await storage.keyval.get(HOST, name + "x", name, name) == b"other"


async def test_writes_are_committed_when_they_return(sql_backend: Backend) -> None:
    async with await sql_backend.open() as first:
        await first.keyval.set(HOST, "alice", "private", "a", b"\x00one")
        await first.keyval.set(HOST, "alice", "private", "b", b"")
        await first.keyval.set(HOST, "alice", "vcard", "current", b"two")
        async with await sql_backend.open() as second:
            assert await second.keyval.get(HOST, "alice", "private", "a") == b"\x00one"
            assert await second.keyval.get(HOST, "alice", "private", "b") == b""
            assert await second.keyval.keys(HOST, "alice", "private") == ["a", "b"]

        await first.keyval.set(HOST, "alice", "private", "a", b"replaced")
        assert await first.keyval.delete(HOST, "alice", "private", "b") is True
        async with await sql_backend.open() as second:
            assert await second.keyval.get(HOST, "alice", "private", "a") == b"replaced"
            assert await second.keyval.get(HOST, "alice", "private", "b") is None

        assert await first.keyval.delete_user(HOST, "alice") == 2
        async with await sql_backend.open() as second:
            assert await second.keyval.keys(HOST, "alice", "private") == []
            assert await second.keyval.get(HOST, "alice", "vcard", "current") is None


async def test_concurrent_sets_share_a_commit_and_the_later_value_of_a_key_stays(
    sql_backend: Backend, commits: list[int]
) -> None:
    async with await sql_backend.open() as first:
        await first.keyval.set(HOST, "warm", "last", "logout", b"0")  # connects outside the counted part
        commits.clear()
        # Many sessions ending together (last activity): 200 users, and one key written twice in one batch.
        await asyncio.gather(
            *(first.keyval.set(HOST, f"user{n}", "last", "logout", b"%d" % n) for n in range(200)),
            first.keyval.set(HOST, "alice", "last", "logout", b"earlier"),
            first.keyval.set(HOST, "alice", "last", "logout", b"later"),
        )
        assert 1 <= len(commits) < 10
        async with await sql_backend.open() as second:
            assert await second.keyval.get(HOST, "alice", "last", "logout") == b"later"
            for n in (0, 99, 199):
                assert await second.keyval.get(HOST, f"user{n}", "last", "logout") == b"%d" % n
