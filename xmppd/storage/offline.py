"""Offline messages (XEP-0160): what arrived for a user with no available resource, kept until the next login.

Messages are kept in the order the server received them: ``stamp`` is the router's arrival stamp (nanoseconds
since the epoch, strictly increasing within a process), and ties (from another process) are broken by the order
of storing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OfflineMessage:
    """One stored message."""

    id: int
    """Unique within the store; increases in the order of storing."""
    stamp: int
    """When the server received it, in nanoseconds since the epoch (for the XEP-0203 delay stamp)."""
    stanza: bytes
    """The message as routed (serialized, in the jabber:client namespace)."""


class OfflineStore(Protocol):
    """Offline messages of every user of every host.

    Every write is committed before its coroutine returns.
    """

    async def store(self, host: str, username: str, stamp: int, stanza: bytes, limit: int) -> bool:
        """Keep a message unless the user has ``limit`` or more already; False (nothing stored) when full.

        The check and the insert are one transaction, so concurrent calls never exceed ``limit``; they are
        decided, and stored, in the order they were made (a backend may share one transaction among them).
        """
        ...

    async def count(self, host: str, username: str) -> int:
        """How many messages are kept for the user."""
        ...

    async def fetch(self, host: str, username: str) -> list[OfflineMessage]:
        """Every kept message of the user, ordered by (stamp, id)."""
        ...

    async def delete(self, host: str, username: str, ids: list[int]) -> int:
        """Remove the user's messages with these ids; returns how many were removed."""
        ...

    async def delete_user(self, host: str, username: str) -> int:
        """Remove every message of the user; returns how many."""
        ...
