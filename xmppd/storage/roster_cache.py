"""The rosters of online users, kept in memory in front of the ``RosterStore`` of a backend.

Every presence a user broadcasts, every probe a contact sends and every login reads a roster (RFC 6121 sections
4.2 to 4.5), and rosters change rarely: the roster module asks this cache to ``keep`` the roster of a user who
has a session, and to ``drop`` it when the user's last session ends. The roster and the pending requests of a
kept user are read from the backend once and answered from memory afterwards; anyone else's go to the backend.

Coherence: the ``Storage`` bundle puts this cache in front of its roster store, so every roster write of the
process goes through it (the roster module's, and ``Storage.delete_user``'s), and each write forgets what is
kept of that user once it has committed; the next read loads again. A read that started before a write ended
does not keep what it loaded (it may be older than the write).

TODO: several nodes sharing one database (cluster mode) need cross-node invalidation: a write on another node
does not reach this cache, so each write would have to tell the other nodes to forget the user's roster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xmppd.storage.roster import PendingRequest, Roster, RosterChange, RosterItem, RosterStore


@dataclass(slots=True)
class _Kept:
    """What is kept of one user: nothing until the first read, and again after each write."""

    roster: Roster | None = None
    by_jid: dict[str, RosterItem] = field(default_factory=dict)
    """The items of ``roster`` by JID."""
    pending: list[PendingRequest] | None = None
    writes: int = 0
    """How many writes ended since the user was kept: a load keeps its result only if none ended meanwhile."""


class RosterCache:
    """A ``RosterStore`` that answers the reads of kept users from memory; see the module docstring."""

    def __init__(self, store: RosterStore) -> None:
        self.store = store
        """The backend's store, which every call reaches but the reads of a kept user."""
        self._kept: dict[tuple[str, str], _Kept] = {}

    # -- which users --------------------------------------------------------------------------------------

    def keep(self, host: str, username: str) -> None:
        """Keep the user's roster in memory from its next read on (the user has a session)."""
        self._kept.setdefault((host, username), _Kept())

    def drop(self, host: str, username: str) -> None:
        """Forget the user's roster (the user's last session ended)."""
        self._kept.pop((host, username), None)

    def is_kept(self, host: str, username: str) -> bool:
        return (host, username) in self._kept

    def _forget(self, host: str, username: str) -> None:
        """A write to the user's roster or requests has committed: what is kept of them is out of date."""
        kept = self._kept.get((host, username))
        if kept is not None:
            kept.roster = None
            kept.by_jid = {}
            kept.pending = None
            kept.writes += 1

    def _unchanged(self, host: str, username: str, kept: _Kept, writes: int) -> bool:
        """Whether a load that began when ``kept.writes`` was ``writes`` may keep what it read: the user is still
        kept (not dropped meanwhile) and no write ended while the load was under way."""
        return self._kept.get((host, username)) is kept and kept.writes == writes

    # -- reads --------------------------------------------------------------------------------------------

    async def get_roster(self, host: str, username: str) -> Roster:
        kept = self._kept.get((host, username))
        if kept is None:
            return await self.store.get_roster(host, username)
        if kept.roster is None:
            writes = kept.writes
            roster = await self.store.get_roster(host, username)
            if not self._unchanged(host, username, kept, writes):
                return roster
            kept.roster = roster
            kept.by_jid = {item.jid: item for item in roster.items}
        return kept.roster

    async def get_item(self, host: str, username: str, jid: str) -> RosterItem | None:
        kept = self._kept.get((host, username))
        if kept is None:
            return await self.store.get_item(host, username, jid)
        if kept.roster is None:
            await self.get_roster(host, username)
            if kept.roster is None:
                return await self.store.get_item(host, username, jid)
        return kept.by_jid.get(jid)

    async def changes_since(self, host: str, username: str, version: int) -> list[RosterChange] | None:
        return await self.store.changes_since(host, username, version)

    async def get_pending(self, host: str, username: str) -> list[PendingRequest]:
        kept = self._kept.get((host, username))
        if kept is None:
            return await self.store.get_pending(host, username)
        if kept.pending is None:
            writes = kept.writes
            pending = await self.store.get_pending(host, username)
            if not self._unchanged(host, username, kept, writes):
                return pending
            kept.pending = pending
        return list(kept.pending)

    # -- writes: each forgets what is kept of the user once it has committed ----------------------------

    async def put_item(self, host: str, username: str, item: RosterItem) -> int:
        try:
            return await self.store.put_item(host, username, item)
        finally:
            self._forget(host, username)

    async def remove_item(self, host: str, username: str, jid: str) -> int | None:
        try:
            return await self.store.remove_item(host, username, jid)
        finally:
            self._forget(host, username)

    async def add_pending(self, host: str, username: str, jid: str, stanza: bytes) -> bool:
        try:
            return await self.store.add_pending(host, username, jid, stanza)
        finally:
            self._forget(host, username)

    async def remove_pending(self, host: str, username: str, jid: str) -> bool:
        try:
            return await self.store.remove_pending(host, username, jid)
        finally:
            self._forget(host, username)

    async def delete_user(self, host: str, username: str) -> None:
        try:
            await self.store.delete_user(host, username)
        finally:
            self._forget(host, username)
