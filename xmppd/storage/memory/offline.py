"""``OfflineStore`` in memory.

No method awaits between reading and writing its dictionaries, so each runs atomically on the event loop:
``store`` checks the count and appends in one step.
"""

from __future__ import annotations

import itertools

from xmppd.storage.offline import OfflineMessage


class MemoryOfflineStore:
    """Messages by (host, username), in the order they were stored."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], list[OfflineMessage]] = {}
        self._ids = itertools.count(1)

    async def store(self, host: str, username: str, stamp: int, stanza: bytes, limit: int) -> bool:
        messages = self._users.get((host, username), [])
        if len(messages) >= limit:
            return False
        # bytes() so that a caller's bytearray changed later cannot change what was stored.
        messages.append(OfflineMessage(next(self._ids), stamp, bytes(stanza)))
        self._users[host, username] = messages
        return True

    async def count(self, host: str, username: str) -> int:
        return len(self._users.get((host, username), ()))

    async def fetch(self, host: str, username: str) -> list[OfflineMessage]:
        return sorted(self._users.get((host, username), ()), key=lambda message: (message.stamp, message.id))

    async def delete(self, host: str, username: str, ids: list[int]) -> int:
        messages = self._users.get((host, username))
        if not messages:
            return 0
        wanted = set(ids)
        kept = [message for message in messages if message.id not in wanted]
        if kept:
            self._users[host, username] = kept
        else:
            del self._users[host, username]
        return len(messages) - len(kept)

    async def delete_user(self, host: str, username: str) -> int:
        return len(self._users.pop((host, username), ()))
