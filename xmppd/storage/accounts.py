"""Accounts: who may log in to a host, and the SCRAM keys that prove it.

Passwords are never stored, only the salted keys of RFC 5802 section 3, one set per hash the server offers.
Usernames arrive already prepared (RFC 7622 section 3.3: the UsernameCaseMapped profile), so the store
compares them as plain strings.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from xmppd.errors import StorageError
from xmppd.sasl import ScramKeys


@dataclass(frozen=True, slots=True)
class Account:
    """One account on one host.

    ``keys`` holds at most one ``ScramKeys`` per hash name, sorted by hash name; ``created`` is timezone-aware
    UTC.
    """

    host: str
    username: str
    keys: tuple[ScramKeys, ...]
    created: datetime

    def keys_for(self, hash_name: str) -> ScramKeys | None:
        """The stored keys for ``hash_name`` (``"sha1"``, ``"sha256"``), or None when there are none."""
        for keys in self.keys:
            if keys.hash_name == hash_name:
                return keys
        return None


class AccountExists(StorageError):  # noqa: N818 (the name other layers use)
    """``create`` was asked for an account that exists already."""

    def __init__(self, host: str, username: str) -> None:
        super().__init__(f"the account {username}@{host} exists already")
        self.host = host
        self.username = username


def normalize_keys(keys: Sequence[ScramKeys]) -> tuple[ScramKeys, ...]:
    """``keys`` sorted by hash name, the form every backend stores; ValueError when a hash name repeats."""
    ordered = tuple(sorted(keys, key=lambda item: item.hash_name))
    for before, after in itertools.pairwise(ordered):
        if before.hash_name == after.hash_name:
            raise ValueError(f"two sets of SCRAM keys for {before.hash_name}")
    return ordered


class AccountStore(Protocol):
    """The accounts of every host this server serves.

    Every write is committed before its coroutine returns.
    """

    async def create(self, host: str, username: str, keys: Sequence[ScramKeys]) -> Account:
        """Create ``username@host`` with ``keys`` and return it.

        Raises ``AccountExists`` when the account exists (its keys are left alone), ``ValueError`` when two of
        ``keys`` share a hash name.
        """
        ...

    async def get(self, host: str, username: str) -> Account | None:
        """The account ``username@host``, or None."""
        ...

    async def set_keys(self, host: str, username: str, keys: Sequence[ScramKeys]) -> bool:
        """Replace every stored key of ``username@host`` with ``keys``; False when there is no such account.

        Raises ``ValueError`` when two of ``keys`` share a hash name.
        """
        ...

    async def delete(self, host: str, username: str) -> bool:
        """Remove ``username@host`` and its keys; False when there was no such account."""
        ...

    async def count(self, host: str) -> int:
        """How many accounts ``host`` has."""
        ...

    async def list(self, host: str) -> builtins.list[str]:
        """The usernames of ``host``, sorted by code point."""
        ...
