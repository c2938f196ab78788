"""``RosterCache``: the rosters of kept users are read once and stay coherent with every write through it."""

from __future__ import annotations

import asyncio

from xmppd.storage import Storage
from xmppd.storage.memory.roster import MemoryRosterStore
from xmppd.storage.roster import PendingRequest, Roster, RosterItem
from xmppd.storage.roster_cache import RosterCache

HOST = "example.org"
ROMEO = RosterItem("romeo@example.net", subscription="both")
MERCUTIO = RosterItem("mercutio@example.com", subscription="from")
SUBSCRIBE = b"<presence type='subscribe'/>"


async def test_a_kept_roster_is_read_from_the_backend_once(storage: Storage) -> None:
    cache, backend = storage.roster_cache, storage.roster_cache.store
    assert storage.roster is cache
    await cache.put_item(HOST, "juliet", ROMEO)
    cache.keep(HOST, "juliet")
    assert await cache.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))
    assert await cache.get_pending(HOST, "juliet") == []
    # Written behind the cache's back (nothing in the process does): the kept copy answers.
    await backend.put_item(HOST, "juliet", MERCUTIO)
    await backend.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE)
    assert await cache.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))
    assert await cache.get_item(HOST, "juliet", MERCUTIO.jid) is None
    assert await cache.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await cache.get_pending(HOST, "juliet") == []
    # Dropped (the last session ended): the backend answers again.
    cache.drop(HOST, "juliet")
    assert not cache.is_kept(HOST, "juliet")
    assert await cache.get_roster(HOST, "juliet") == Roster(2, (MERCUTIO, ROMEO))
    assert await cache.get_pending(HOST, "juliet") == [PendingRequest("nurse@example.com", SUBSCRIBE)]


async def test_a_roster_not_kept_is_always_read_from_the_backend(storage: Storage) -> None:
    cache, backend = storage.roster_cache, storage.roster_cache.store
    assert await cache.get_roster(HOST, "juliet") == Roster(0, ())
    await backend.put_item(HOST, "juliet", ROMEO)
    assert await cache.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await cache.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))


async def test_every_write_is_seen_by_the_next_read_of_a_kept_roster(storage: Storage) -> None:
    cache = storage.roster_cache
    cache.keep(HOST, "juliet")
    assert await cache.get_roster(HOST, "juliet") == Roster(0, ())
    assert await cache.put_item(HOST, "juliet", ROMEO) == 1
    assert await cache.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await cache.put_item(HOST, "juliet", MERCUTIO) == 2
    assert await cache.get_roster(HOST, "juliet") == Roster(2, (MERCUTIO, ROMEO))
    assert await cache.remove_item(HOST, "juliet", ROMEO.jid) == 3
    assert await cache.get_item(HOST, "juliet", ROMEO.jid) is None
    assert await cache.get_roster(HOST, "juliet") == Roster(3, (MERCUTIO,))

    assert await cache.get_pending(HOST, "juliet") == []
    assert await cache.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE) is True
    assert await cache.get_pending(HOST, "juliet") == [PendingRequest("nurse@example.com", SUBSCRIBE)]
    assert await cache.remove_pending(HOST, "juliet", "nurse@example.com") is True
    assert await cache.get_pending(HOST, "juliet") == []

    await cache.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE)
    await cache.get_pending(HOST, "juliet")
    await storage.delete_user(HOST, "juliet")  # the path of account deletion
    assert await cache.get_roster(HOST, "juliet") == Roster(0, ())
    assert await cache.get_item(HOST, "juliet", MERCUTIO.jid) is None
    assert await cache.get_pending(HOST, "juliet") == []
    assert cache.is_kept(HOST, "juliet")  # kept while the user's sessions last


class SlowStore(MemoryRosterStore):
    """A memory store whose ``get_roster`` and ``get_pending`` wait for ``release`` once they have read."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def get_roster(self, host: str, username: str) -> Roster:
        roster = await super().get_roster(host, username)
        await self.release.wait()
        return roster

    async def get_pending(self, host: str, username: str) -> list[PendingRequest]:
        pending = await super().get_pending(host, username)
        await self.release.wait()
        return pending


async def test_a_read_under_way_when_a_write_ends_is_not_kept() -> None:
    store = SlowStore()
    cache = RosterCache(store)
    cache.keep(HOST, "juliet")
    read = asyncio.ensure_future(cache.get_roster(HOST, "juliet"))
    requests = asyncio.ensure_future(cache.get_pending(HOST, "juliet"))
    await asyncio.sleep(0)  # both have read the empty roster and wait
    store.release.set()
    await cache.put_item(HOST, "juliet", ROMEO)
    await cache.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE)
    assert await read == Roster(0, ())  # what that read saw, older than the write
    assert await requests == []
    assert await cache.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))
    assert await cache.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await cache.get_pending(HOST, "juliet") == [PendingRequest("nurse@example.com", SUBSCRIBE)]


async def test_a_roster_dropped_during_its_read_is_not_kept() -> None:
    store = SlowStore()
    cache = RosterCache(store)
    cache.keep(HOST, "juliet")
    read = asyncio.ensure_future(cache.get_roster(HOST, "juliet"))
    await asyncio.sleep(0)
    cache.drop(HOST, "juliet")
    cache.keep(HOST, "juliet")  # a new session, with a new entry
    store.release.set()
    assert await read == Roster(0, ())
    await store.put_item(HOST, "juliet", ROMEO)  # behind the cache: seen only because nothing was kept
    assert await cache.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))
