"""The in-memory backend: every store in dictionaries, for unit tests and servers that keep nothing."""

from __future__ import annotations

from xmppd.storage import Storage
from xmppd.storage.memory.accounts import MemoryAccountStore
from xmppd.storage.memory.keyval import MemoryKeyValueStore
from xmppd.storage.memory.offline import MemoryOfflineStore
from xmppd.storage.memory.roster import MemoryRosterStore

__all__ = [
    "MemoryAccountStore",
    "MemoryKeyValueStore",
    "MemoryOfflineStore",
    "MemoryRosterStore",
    "memory_storage",
]


def memory_storage() -> Storage:
    """A fresh, empty set of in-memory stores."""
    return Storage(
        accounts=MemoryAccountStore(),
        keyval=MemoryKeyValueStore(),
        roster=MemoryRosterStore(),
        offline=MemoryOfflineStore(),
    )
