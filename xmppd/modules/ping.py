"""XEP-0199: XMPP Ping.

Answers pings addressed to the server's domain or to the sender's own account, and pings idle clients itself to
find dead connections (XEP-0199 section 4.2): a session silent for ``interval`` seconds gets a ping, and one that
does not answer within ``timeout`` seconds is closed with connection-timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from xmppd.errors import StanzaError, StreamError
from xmppd.modules.api import IqRequest, Module, Spec, To, iq_handler
from xmppd.routing.sessions import LocalSession
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_PING


class Ping(Module):
    name = "ping"
    spec = Spec("XEP-0199", version="2.0.1")
    features = (NS_PING,)
    account_features = (NS_PING,)

    @dataclass(frozen=True, slots=True)
    class Config:
        interval: float = 300.0
        """Seconds a client may stay silent before the server pings it (0 disables server pings)."""
        timeout: float = 60.0
        """Seconds to wait for the answer to a server ping before closing the connection."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._task: asyncio.Task[None] | None = None
        self._probing: set[LocalSession] = set()

    async def start(self) -> None:
        if self.config.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @iq_handler("get", NS_PING, "ping", to=(To.HOST, To.BARE))
    async def ping(self, request: IqRequest) -> None:
        """An empty result is the whole answer (XEP-0199 section 4.2)."""
        if request.to.local is not None and request.sender.bare() != request.to:
            # Another account's bare JID: the client answers pings to its full JID, not the server for it.
            raise StanzaError("service-unavailable")

    async def _watch(self) -> None:
        interval = self.config.interval
        while True:
            await asyncio.sleep(min(interval / 4, 30.0))
            now = time.monotonic()
            for session in self.host.sessions:
                if session.jid.domain != self.host.name or session in self._probing:
                    continue
                if now - session.last_activity >= interval:
                    self._probing.add(session)
                    self.host.router.spawn(self._probe(session))

    async def _probe(self, session: LocalSession) -> None:
        iq = Element("iq", NS_CLIENT, {"type": "get", "to": str(session.jid)})
        iq.add("ping", NS_PING)
        try:
            await self.host.send_iq(iq, self.config.timeout)
        except TimeoutError:
            self.log.info("%s did not answer a ping in %ss: closing", session.jid, self.config.timeout)
            session.close(StreamError("connection-timeout"))
        finally:
            self._probing.discard(session)
