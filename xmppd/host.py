"""A virtual host: one served domain with its hook bus, IQ handlers, disco registry and stores."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from xmppd.hooks import HookBus
from xmppd.jid import JID
from xmppd.routing.router import IqHandler, Router, StanzaFilter, To
from xmppd.routing.sessions import SessionTable
from xmppd.storage import Storage
from xmppd.xml.element import Element

if TYPE_CHECKING:
    from xmppd.modules.api import Identity, Module


class Host:
    """Everything one served domain owns; modules reach the server through it."""

    def __init__(
        self, name: str, storage: Storage, router: Router, sessions: SessionTable, software: str
    ) -> None:
        self.name = name
        self.jid = JID.parse(name)
        self.storage = storage
        self.router = router
        self.sessions = sessions
        self.software = software
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

    async def account_exists(self, username: str) -> bool:
        """Whether ``username`` has an account here (online sessions answer without storage)."""
        bare = JID.make(username, self.name)
        if self.sessions.resources(bare):
            return True
        return await self.storage.accounts.get(self.name, username) is not None

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
