"""``RosterStore`` in memory.

No method awaits between reading and writing its dictionaries, so each runs atomically on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xmppd.storage.roster import PendingRequest, Roster, RosterChange, RosterItem, normalize_item


@dataclass(slots=True)
class _UserRoster:
    version: int = 0
    entries: dict[str, tuple[int, RosterItem | None]] = field(default_factory=dict)
    """By JID: the version of the entry's last change, and the item (None: a tombstone)."""
    pending: dict[str, bytes] = field(default_factory=dict)
    """By JID, in order of arrival (dictionaries keep insertion order)."""


class MemoryRosterStore:
    """Rosters by (host, username)."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], _UserRoster] = {}

    async def get_roster(self, host: str, username: str) -> Roster:
        user = self._users.get((host, username))
        if user is None:
            return Roster(0, ())
        items = [item for _, item in user.entries.values() if item is not None]
        return Roster(user.version, tuple(sorted(items, key=lambda item: item.jid)))

    async def get_item(self, host: str, username: str, jid: str) -> RosterItem | None:
        user = self._users.get((host, username))
        if user is None:
            return None
        entry = user.entries.get(jid)
        return None if entry is None else entry[1]

    async def put_item(self, host: str, username: str, item: RosterItem) -> int:
        user = self._users.setdefault((host, username), _UserRoster())
        user.version += 1
        user.entries[item.jid] = (user.version, normalize_item(item))
        return user.version

    async def remove_item(self, host: str, username: str, jid: str) -> int | None:
        user = self._users.get((host, username))
        if user is None:
            return None
        entry = user.entries.get(jid)
        if entry is None or entry[1] is None:
            return None
        user.version += 1
        user.entries[jid] = (user.version, None)
        return user.version

    async def changes_since(self, host: str, username: str, version: int) -> list[RosterChange] | None:
        user = self._users.get((host, username))
        current = 0 if user is None else user.version
        if version < 0 or version > current:
            return None
        if user is None:
            return []
        changes = [
            RosterChange(jid, changed, item)
            for jid, (changed, item) in user.entries.items()
            if changed > version
        ]
        changes.sort(key=lambda change: change.version)
        return changes

    async def get_pending(self, host: str, username: str) -> list[PendingRequest]:
        user = self._users.get((host, username))
        if user is None:
            return []
        return [PendingRequest(jid, stanza) for jid, stanza in user.pending.items()]

    async def add_pending(self, host: str, username: str, jid: str, stanza: bytes) -> bool:
        user = self._users.setdefault((host, username), _UserRoster())
        if jid in user.pending:
            return False
        # bytes() so that a caller's bytearray changed later cannot change what was stored.
        user.pending[jid] = bytes(stanza)
        return True

    async def remove_pending(self, host: str, username: str, jid: str) -> bool:
        user = self._users.get((host, username))
        return user is not None and user.pending.pop(jid, None) is not None

    async def delete_user(self, host: str, username: str) -> None:
        self._users.pop((host, username), None)
