"""A virtual host: one served domain with its hook bus, IQ handlers, disco registry and stores."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from xmppd import accounts, hooks
from xmppd.errors import JIDError, StreamError
from xmppd.hooks import HookBus
from xmppd.jid import JID, prep_localpart
from xmppd.routing.router import IqHandler, Router, StanzaFilter, To
from xmppd.routing.sessions import SessionTable
from xmppd.sasl.scram import DEFAULT_ITERATIONS
from xmppd.storage import Storage
from xmppd.xml.element import Element

if TYPE_CHECKING:
    from xmppd.modules.api import Identity, Module

log = logging.getLogger(__name__)

SETTLE_TIMEOUT = 10.0
"""The most ``delete_account`` waits for the routing one of its steps caused, in seconds."""

KNOWN_ACCOUNT_TTL = 60.0
"""How long ``account_exists`` trusts that an account it found still exists, in seconds."""

KNOWN_ACCOUNTS_MAX = 100_000
"""The most accounts ``account_exists`` remembers (it forgets them all when full)."""


class Host:
    """Everything one served domain owns; modules reach the server through it."""

    def __init__(
        self,
        name: str,
        storage: Storage,
        router: Router,
        sessions: SessionTable,
        software: str,
        *,
        scram_iterations: int = DEFAULT_ITERATIONS,
    ) -> None:
        self.name = name
        self.jid = JID.parse(name)
        self.storage = storage
        self.router = router
        self.sessions = sessions
        self.software = software
        self.scram_iterations = scram_iterations
        """PBKDF2 iterations for the SCRAM keys of new passwords (the server's ``auth.scram_iterations``)."""
        self.hooks = HookBus()
        self.iq_handlers: dict[tuple[str, str, str, To], IqHandler] = {}
        self.filters_out: list[StanzaFilter] = []
        """Filters of stanzas that this host's sessions send (see ``xmppd.routing.router``)."""
        self.filters_in: list[StanzaFilter] = []
        """Filters of stanzas addressed to this host's accounts."""
        self.features: list[str] = []
        self.account_features: list[str] = []
        self.identities: list[Identity] = []
        self.modules: dict[str, Module] = {}
        self._pending_iq: dict[str, asyncio.Future[Element]] = {}
        self._iq_ids = itertools.count(1)
        self._deleting: set[str] = set()
        # Accounts found lately, with when to look again: every message to an offline user asks (RFC 6121
        # section 8.5.1). Only what was found is remembered, so a new account is seen at once; a deletion here
        # forgets it at once, one by another process (``xmppd user del``) within the TTL.
        self._known_accounts: dict[str, float] = {}
        self._deletions = 0
        """Deletions begun: a lookup that one overlapped does not remember what it found."""

    async def account_exists(self, username: str) -> bool:
        """Whether ``username`` has an account here (online sessions, then accounts found lately, answer without
        storage)."""
        if self.sessions.resources(JID.make(username, self.name)):
            return True
        now = asyncio.get_running_loop().time()
        if self._known_accounts.get(username, 0.0) > now:
            return True
        deletions = self._deletions
        if await self.storage.accounts.get(self.name, username) is None:
            return False
        if deletions == self._deletions and not self._deleting:
            if len(self._known_accounts) >= KNOWN_ACCOUNTS_MAX:
                self._known_accounts.clear()
            self._known_accounts[username] = now + KNOWN_ACCOUNT_TTL
        return True

    async def delete_account(self, username: str) -> bool:
        """Delete the account ``username`` and everything of it; False when there is no such account.

        The one path for every deletion (``xmppd user del``, XEP-0077 in-band removal):

        1. ``hooks.ACCOUNT_DELETED`` fires: modules tell others what they must know (the roster module
           unsubscribes the account's contacts, RFC 6121 section 2.5.2) and drop what they keep in memory;
        2. the routing this causes runs to its end, so that no answer to it lands in the account's data after
           the data is gone;
        3. the account's sessions are closed with ``not-authorized`` (XEP-0077 section 3.2), and the routing
           their closing causes (unavailable presence, sent by the roster still in storage) runs too;
        4. every store forgets the user, then the account goes (``xmppd.accounts.delete_account``).

        Steps 2 and 3 wait for every task started since step 1 began (on a busy server some are unrelated), for
        ``SETTLE_TIMEOUT`` at most; never for the calling task, so a router task (an IQ handler) may call this.
        """
        try:
            local = prep_localpart(username)
        except JIDError:
            return False
        if local in self._deleting or await self.storage.accounts.get(self.name, local) is None:
            return False  # (a deletion under way: the hook must not fire twice)
        self._deleting.add(local)
        self._deletions += 1
        self._known_accounts.pop(local, None)
        try:
            deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
            before = asyncio.all_tasks()
            await self.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted(self.name, local))
            await _settle(before, deadline)
            for session in self.sessions.resources(JID.make(local, self.name)):
                session.close(StreamError("not-authorized", "the account was deleted"))
            await _settle(before, deadline)
            deleted = await accounts.delete_account(self.storage, self.name, local)
        finally:
            self._deleting.discard(local)
        if deleted:
            log.info("deleted the account %s@%s", local, self.name)
        return deleted

    def send(self, stanza: Element) -> None:
        """Route a stanza the server itself sends (``from`` should be the host or a bare JID here)."""
        self.router.route(stanza)

    async def send_iq(self, stanza: Element, timeout: float) -> Element:
        """Send an IQ request from the server and wait for the answer (result or error stanza).

        Raises ``TimeoutError`` when none arrives in ``timeout`` seconds.
        """
        iq_id = f"xmppd-{next(self._iq_ids)}"
        stanza.attrs["id"] = iq_id
        stanza.attrs.setdefault("from", self.name)
        future: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        self._pending_iq[iq_id] = future
        try:
            self.router.route(stanza)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending_iq.pop(iq_id, None)

    def resolve_iq(self, stanza: Element) -> None:
        """An iq result or error addressed to the host: the answer to one of ``send_iq``'s requests."""
        future = self._pending_iq.get(stanza.attrs.get("id", ""))
        if future is not None and not future.done():
            future.set_result(stanza)

    def module_state(self) -> dict[str, Any]:
        return {name: module.spec for name, module in self.modules.items()}


async def _settle(before: set[asyncio.Task[Any]], deadline: float) -> None:
    """Wait until every task started since ``before`` was taken is done (the routing something caused), or until
    ``deadline`` (loop time). The calling task is never waited for: it may be one of the router's own."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    while True:
        pending = {task for task in asyncio.all_tasks() if task not in before and task is not current}
        if not pending:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("%d tasks still running after an account deletion step; going on", len(pending))
            return
        # asyncio.wait, unlike wait_for or gather, never cancels what it waits for.
        await asyncio.wait(pending, timeout=remaining)
