"""``AccountStore`` in memory.

No method awaits between reading and writing its dictionaries, so each runs atomically on the event loop.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from xmppd.sasl import ScramKeys
from xmppd.storage.accounts import Account, AccountExists, normalize_keys


class MemoryAccountStore:
    """Accounts by host, then username."""

    def __init__(self) -> None:
        self._hosts: dict[str, dict[str, Account]] = {}

    async def create(self, host: str, username: str, keys: Sequence[ScramKeys]) -> Account:
        ordered = normalize_keys(keys)
        accounts = self._hosts.setdefault(host, {})
        if username in accounts:
            raise AccountExists(host, username)
        account = Account(host, username, ordered, datetime.now(UTC))
        accounts[username] = account
        return account

    async def get(self, host: str, username: str) -> Account | None:
        return self._hosts.get(host, {}).get(username)

    async def set_keys(self, host: str, username: str, keys: Sequence[ScramKeys]) -> bool:
        ordered = normalize_keys(keys)
        accounts = self._hosts.get(host, {})
        account = accounts.get(username)
        if account is None:
            return False
        accounts[username] = replace(account, keys=ordered)
        return True

    async def delete(self, host: str, username: str) -> bool:
        accounts = self._hosts.get(host)
        if accounts is None or accounts.pop(username, None) is None:
            return False
        if not accounts:
            del self._hosts[host]
        return True

    async def count(self, host: str) -> int:
        return len(self._hosts.get(host, ()))

    async def list(self, host: str) -> builtins.list[str]:
        return sorted(self._hosts.get(host, ()))
