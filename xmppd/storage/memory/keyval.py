"""``KeyValueStore`` in memory.

No method awaits between reading and writing its dictionaries, so each runs atomically on the event loop.
"""

from __future__ import annotations


class MemoryKeyValueStore:
    """Values by (host, username), then store, then key."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], dict[str, dict[str, bytes]]] = {}

    async def get(self, host: str, username: str, store: str, key: str) -> bytes | None:
        return self._users.get((host, username), {}).get(store, {}).get(key)

    async def set(self, host: str, username: str, store: str, key: str, value: bytes) -> None:
        # bytes() so that a caller's bytearray changed later cannot change what was stored.
        self._users.setdefault((host, username), {}).setdefault(store, {})[key] = bytes(value)

    async def delete(self, host: str, username: str, store: str, key: str) -> bool:
        stores = self._users.get((host, username))
        if stores is None:
            return False
        values = stores.get(store)
        if values is None or values.pop(key, None) is None:
            return False
        if not values:
            del stores[store]
        if not stores:
            del self._users[host, username]
        return True

    async def keys(self, host: str, username: str, store: str) -> list[str]:
        return sorted(self._users.get((host, username), {}).get(store, ()))

    async def delete_user(self, host: str, username: str) -> int:
        stores = self._users.pop((host, username), {})
        return sum(len(values) for values in stores.values())
