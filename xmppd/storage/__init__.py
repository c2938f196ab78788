"""Storage: one small async interface per feature, and the backends that implement all of them.

Modules receive the Protocol of their own store (``AccountStore``, ``KeyValueStore`` ...), never a connection
or SQL. ``open_storage`` picks the backend from a URL:

- ``memory://``: everything in dictionaries, gone when the process ends (unit tests, ephemeral servers);
- ``sqlite:///path/to/file.db``: the embedded default (parent directories are created);
- ``postgresql://user@host:port/db``: for production and clusters; ``?schema=NAME`` keeps every table in that
  PostgreSQL schema (created when missing).

SQL backends apply pending schema migrations when they open. Every failure of a backend reaches the caller as
a ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from xmppd.errors import StorageError
from xmppd.storage.accounts import AccountStore
from xmppd.storage.keyval import KeyValueStore
from xmppd.storage.offline import OfflineStore
from xmppd.storage.roster import RosterStore
from xmppd.storage.roster_cache import RosterCache

__all__ = ["Storage", "StorageError", "open_storage"]


@dataclass
class Storage:
    """Every store of one backend, and the means to close it.

    Usable as an async context manager that closes it on exit.
    """

    accounts: AccountStore
    keyval: KeyValueStore
    roster: RosterStore
    offline: OfflineStore
    on_close: Callable[[], Awaitable[None]] | None = field(default=None, repr=False, compare=False)
    """What ``close`` runs (the SQL backend disposes of its engine); run once."""

    def __post_init__(self) -> None:
        # Every roster read and write of the process goes through the cache, which keeps it coherent.
        if not isinstance(self.roster, RosterCache):
            self.roster = RosterCache(self.roster)

    @property
    def roster_cache(self) -> RosterCache:
        """``roster`` itself: the backend's roster store behind the cache of online users' rosters, which the
        roster module tells whom to keep (``xmppd.storage.roster_cache``)."""
        assert isinstance(self.roster, RosterCache)
        return self.roster

    async def delete_user(self, host: str, username: str) -> None:
        """Remove every piece of ``username@host``'s data from every store except ``accounts``.

        The account itself is left for the caller to delete afterwards (``xmppd.accounts.delete_account`` does
        both), so that a failure part way leaves an account that can be deleted again rather than data that no
        account owns. Each store commits its own part: the stores may one day live in different databases.
        """
        # A store added to this bundle must be added here too: tests/storage/test_delete_user.py checks that
        # nothing of the user is left anywhere.
        await self.keyval.delete_user(host, username)
        await self.roster.delete_user(host, username)
        await self.offline.delete_user(host, username)

    async def close(self) -> None:
        """Release the backend's connections; closing twice is harmless."""
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            await on_close()

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def open_storage(url: str) -> Storage:
    """Open the backend ``url`` names, migrating an SQL database to the current schema first.

    Raises ``StorageError`` when the URL is not understood, the database cannot be reached, or its schema is
    newer than this version of xmppd knows.
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        if url.lower() != "memory://":
            raise StorageError(f"the memory backend takes no location or options: {url!r}")
        from xmppd.storage.memory import memory_storage  # noqa: PLC0415 (it imports Storage from here)

        return memory_storage()
    # Imported here so that the memory backend (and importing this package) does not load SQLAlchemy.
    from xmppd.storage.sql import open_sql_storage  # noqa: PLC0415

    return await open_sql_storage(url)
