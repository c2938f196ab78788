"""XEP-0012: Last Activity.

Asked at the server's domain, the server answers with its uptime; asked at an account's bare JID, it answers on
the user's behalf: 0 seconds while the user has an available resource, otherwise the seconds since the user last
went offline with the status text of that unavailable presence. Only the user and the contacts subscribed to the
user's presence may ask (the roster answers ``hooks.SUBSCRIPTION_QUERY``). Queries to a full JID are the client's
to answer (its idle time); the server delivers them only to those same askers, and refuses the others itself.

"Went offline" is the moment the user's last available resource broadcast unavailable presence, explicitly or
because its session ended (RFC 6121 section 4.5.1: the server broadcasts it then). A session that never sent
available presence was never visible to the contacts, and does not move the time they are shown. It is stored in
the key/value store as ``last``/``logout``: ``b"<unix seconds>\\n<status>"``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Final

from xmppd import hooks
from xmppd.errors import StanzaError
from xmppd.jid import JID
from xmppd.modules.api import IqRequest, Module, Spec, StanzaContext, To, hook, iq_handler, stanza_filter
from xmppd.routing.router import FilterVerdict
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_LAST
from xmppd.xml.stanza import iq_payload

STORE: Final = "last"
KEY: Final = "logout"


def encode_logout(seconds: int, status: str) -> bytes:
    """The stored form of a logout: when (seconds since the epoch) and the status text."""
    return f"{seconds}\n{status}".encode()


def decode_logout(data: bytes) -> tuple[int, str]:
    """``encode_logout`` undone; raises ``ValueError`` for anything else."""
    stamp, _, status = data.decode("utf-8").partition("\n")
    return int(stamp), status


class LastActivity(Module):
    name = "last"
    spec = Spec("XEP-0012", version="2.0")
    # XEP-0012 section 6: support is advertised as 'jabber:iq:last' (by the server, and for its accounts).
    features = (NS_LAST,)
    account_features = (NS_LAST,)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._started = time.monotonic()

    @iq_handler("get", NS_LAST, "query", to=(To.HOST, To.BARE))
    async def query(self, request: IqRequest) -> Element:
        username = request.to.local
        if username is None:
            # Section 5: to a server, 'seconds' is how long it has been up, with no character data.
            uptime = int(time.monotonic() - self._started)
            return Element("query", NS_LAST, {"seconds": str(uptime)})
        requester = request.sender.bare()
        if requester != request.to and not await self._subscribed(username, requester):
            # Section 3 and section 8: never to an entity not authorized to see the user's presence (normally by
            # a presence subscription), which MUST get a forbidden error.
            raise StanzaError("forbidden", "only contacts subscribed to the user's presence may ask")
        if self.host.sessions.available(request.to):
            # Section 3: a user with an available resource SHOULD be answered with seconds='0' and no text.
            return Element("query", NS_LAST, {"seconds": "0"})
        data = await self.host.storage.keyval.get(self.host.name, username, STORE, KEY)
        if data is None:
            # Never seen online since this module started keeping track: there is no last activity to tell.
            raise StanzaError("item-not-found", "no last activity recorded")
        stamp, status = decode_logout(data)
        seconds = max(0, int(time.time()) - stamp)
        # Section 3: seconds since the user logged out, and the status of their last unavailable presence.
        return Element("query", NS_LAST, {"seconds": str(seconds)}, text=status or None)

    @stanza_filter("in")
    def guard_full_jid(self, context: StanzaContext) -> FilterVerdict | Awaitable[FilterVerdict]:
        """A last activity query to a user's full JID reaches the client only if the asker may see the user's
        presence (section 8: a server MUST NOT let an unauthorized entity learn a user's availability through a
        request to user@host/resource; version 1.3 made the server block such requests)."""
        stanza = context.stanza
        to = context.to
        if stanza.name != "iq" or to.resource is None or to.local is None:
            return None
        if stanza.attrs.get("type") not in ("get", "set") or context.sender.bare() == to.bare():
            return None
        payload = iq_payload(stanza)
        if payload is None or payload.ns != NS_LAST:
            return None
        return self._full_jid_verdict(to.local, context.sender.bare())

    async def _full_jid_verdict(self, username: str, requester: JID) -> FilterVerdict:
        if await self._subscribed(username, requester):
            return None
        # The same answer as at the bare JID (section 3), whether or not that resource is online.
        return StanzaError("forbidden", "only contacts subscribed to the user's presence may ask")

    async def _subscribed(self, username: str, contact: JID) -> bool:
        query = hooks.SubscriptionQuery(self.host.name, username, str(contact))
        subscribed: bool = await self.host.hooks.fold(hooks.SUBSCRIPTION_QUERY, query, False)
        return subscribed

    @hook(hooks.PRESENCE_BROADCAST)
    async def record_logout(self, context: StanzaContext) -> None:
        """Unavailable presence from the user's last available resource: the user went offline now."""
        presence = context.stanza
        username = context.sender.local
        if presence.attrs.get("type") != "unavailable" or username is None:
            return
        if context.sender.domain != self.host.name or self.host.sessions.available(context.sender.bare()):
            return  # another resource is still available: the user is online
        status = presence.child_text("status", presence.ns) or ""
        when = context.stamp // 1_000_000_000  # when the router took the presence
        await self.host.storage.keyval.set(self.host.name, username, STORE, KEY, encode_logout(when, status))

    @hook(hooks.ACCOUNT_DELETED)
    async def delete_account(self, event: hooks.AccountDeleted) -> None:
        if event.host == self.host.name:
            await self.host.storage.keyval.delete(self.host.name, event.username, STORE, KEY)
