"""``Host.account_exists``: accounts found lately are remembered, and nothing else is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import Harness
from xmppd import host as host_module
from xmppd.storage.accounts import Account


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create()
    await h.add_account("alice")
    yield h
    await h.close()


@pytest.fixture
def lookups(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames the accounts store is asked for, in order."""
    asked: list[str] = []
    accounts = harness.storage.accounts
    real_get = accounts.get

    async def get(host: str, username: str) -> Account | None:
        asked.append(username)
        return await real_get(host, username)

    monkeypatch.setattr(accounts, "get", get)
    return asked


async def test_a_found_account_is_read_once(harness: Harness, lookups: list[str]) -> None:
    for _ in range(5):
        assert await harness.host.account_exists("alice")
    assert lookups == ["alice"]


async def test_a_missing_account_is_not_remembered(harness: Harness, lookups: list[str]) -> None:
    assert not await harness.host.account_exists("carol")
    await harness.add_account("carol")  # created meanwhile (by in-band registration or by another process)
    assert await harness.host.account_exists("carol")
    assert lookups == ["carol", "carol"]


async def test_a_deleted_account_is_forgotten_at_once(harness: Harness) -> None:
    assert await harness.host.account_exists("alice")
    assert await harness.host.delete_account("alice")
    assert not await harness.host.account_exists("alice")


async def test_a_lookup_overlapping_a_deletion_is_not_remembered(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = harness.storage.accounts
    real_get = accounts.get
    release = asyncio.Event()

    async def slow_get(host: str, username: str) -> Account | None:
        found = await real_get(host, username)
        await release.wait()  # the deletion runs while this lookup is under way
        return found

    monkeypatch.setattr(accounts, "get", slow_get)
    lookup = asyncio.create_task(harness.host.account_exists("alice"))
    await asyncio.sleep(0)
    monkeypatch.setattr(accounts, "get", real_get)
    assert await harness.host.delete_account("alice")
    release.set()
    assert await lookup  # it read the account before it went
    assert not await harness.host.account_exists("alice")


async def test_what_is_remembered_expires(
    harness: Harness, lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_module, "KNOWN_ACCOUNT_TTL", 0.0)
    assert await harness.host.account_exists("alice")
    assert await harness.host.account_exists("alice")
    assert lookups == ["alice", "alice"]
