"""Account management shared by the command line and in-band features: create, change password, delete.

Passwords never reach storage: SCRAM salted keys for SHA-1 and SHA-256 do (RFC 5802 section 3).
"""

from __future__ import annotations

import asyncio

from xmppd.errors import JIDError
from xmppd.jid import prep_localpart
from xmppd.sasl import ScramKeys
from xmppd.sasl.scram import DEFAULT_ITERATIONS, derive_keys
from xmppd.storage import Storage
from xmppd.storage.accounts import Account


async def derive_all(password: str, iterations: int = DEFAULT_ITERATIONS) -> tuple[ScramKeys, ...]:
    """SCRAM keys for every hash we offer, derived off the event loop (PBKDF2 is CPU work).

    ``iterations`` defaults to 4096, the least RFC 7677 section 4 asks for; the server passes its
    ``auth.scram_iterations``.
    """
    loop = asyncio.get_running_loop()
    sha1 = loop.run_in_executor(None, derive_keys, password, "sha1", iterations)
    sha256 = loop.run_in_executor(None, derive_keys, password, "sha256", iterations)
    return (await sha1, await sha256)


def check_password(password: str) -> None:
    """Raise ValueError for passwords we refuse (empty, or not valid under the OpaqueString profile)."""
    if not password:
        raise ValueError("the password is empty")
    try:
        derive_keys(password, "sha256", 1)
    except Exception as exc:
        raise ValueError(f"the password is not allowed: {exc}") from None


async def create_account(
    storage: Storage, host: str, username: str, password: str, iterations: int = DEFAULT_ITERATIONS
) -> Account:
    """Create ``username@host``; raises JIDError, ValueError or AccountExists."""
    local = prep_localpart(username)
    check_password(password)
    return await storage.accounts.create(host, local, await derive_all(password, iterations))


async def set_password(
    storage: Storage, host: str, username: str, password: str, iterations: int = DEFAULT_ITERATIONS
) -> bool:
    """Replace the keys of ``username@host``; False when there is no such account."""
    local = prep_localpart(username)
    check_password(password)
    return await storage.accounts.set_keys(host, local, await derive_all(password, iterations))


async def delete_account(storage: Storage, host: str, username: str) -> bool:
    """Remove ``username@host`` and every piece of its data in every store; False when there is no such account."""
    try:
        local = prep_localpart(username)
    except JIDError:
        return False
    # The data first, the account last: if deleting the data fails, the account is still there to delete again.
    await storage.delete_user(host, local)
    return await storage.accounts.delete(host, local)
