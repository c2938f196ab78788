"""A small per-user key/value store for features whose data is a few opaque documents.

Private XML storage (XEP-0049), vCards (XEP-0054) and block lists (XEP-0191) each keep a handful of values
per user: a feature names its ``store`` (``"private"``, ``"vcard"`` ...) and chooses its keys inside it.
Values are bytes, usually serialized XML; the store never looks inside them.
"""

from __future__ import annotations

from typing import Protocol


class KeyValueStore(Protocol):
    """Values by (host, username, store, key).

    Every write is committed before its coroutine returns.
    """

    async def get(self, host: str, username: str, store: str, key: str) -> bytes | None:
        """The value under ``key``, or None when there is none (an empty value is ``b""``, not None)."""
        ...

    async def set(self, host: str, username: str, store: str, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        ...

    async def delete(self, host: str, username: str, store: str, key: str) -> bool:
        """Remove the value under ``key``; False when there was none."""
        ...

    async def keys(self, host: str, username: str, store: str) -> list[str]:
        """The keys that hold a value in ``store`` for this user, sorted by code point."""
        ...

    async def delete_user(self, host: str, username: str) -> int:
        """Remove this user's values in every store (the account is being deleted); returns how many."""
        ...
