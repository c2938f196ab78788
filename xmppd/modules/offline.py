"""XEP-0160: Best Practices for Handling Offline Messages, with XEP-0203 delay stamps.

A chat or normal message for an account with no available resource of non-negative priority reaches this module
through ``hooks.MESSAGE_OFFLINE`` (RFC 6121 section 8.5.2.2.1 lets the server store it instead of answering
service-unavailable). What is worth keeping (XEP-0160 section 3, XEP-0085 section 5.8, XEP-0334 section 4) is
stored, serialized as routed, with the router's arrival stamp, and committed before the hook returns HANDLED.

The messages wait until the user next sends available presence of non-negative priority (XEP-0160 section 2,
step 5): the initial presence of a session, or a change from a negative priority. They are then delivered to
that session in the order they arrived, each with a ``<delay/>`` (XEP-0203) saying when the server received
it, and deleted once handed to the session. One user's deliveries are serialized, so two sessions coming
online together never both get a message; a message stored while a session came online is delivered to it
right away rather than left waiting for the next login.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from xmppd import hooks
from xmppd.config import option
from xmppd.errors import JIDError, StanzaError, StorageError
from xmppd.jid import JID
from xmppd.modules.api import Module, Spec, StanzaContext, hook
from xmppd.routing.router import DROP
from xmppd.routing.sessions import LocalSession
from xmppd.xml.document import parse_document
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CHATSTATES, NS_DELAY, NS_HINTS, NS_SID
from xmppd.xml.serializer import to_bytes
from xmppd.xml.stanza import delay_element

if TYPE_CHECKING:
    from xmppd.host import Host
    from xmppd.storage.offline import OfflineMessage


FEATURE: Final = "msgoffline"
DELAY_REASON: Final = "Offline Storage"


def should_store(message: Element) -> bool:
    """Whether a chat or normal message for an offline user is worth keeping.

    The router hands over only chat and normal messages: XEP-0160 section 3 says groupchat, headline and error
    messages SHOULD NOT be stored, and RFC 6121 section 8.5.2.2.1 has them ignored or refused before.
    """
    hints = {child.name for child in message.find_all(ns=NS_HINTS)}
    if "no-store" in hints:
        # XEP-0334 section 4.2: not to be stored by a server, not even for later delivery to an offline client.
        return False
    if "store" in hints:
        # XEP-0334 section 4.4: a message with <store/> that is not an error SHOULD be stored.
        return True
    # XEP-0160 section 3 (chat messages with only XEP-0085 content SHOULD NOT be stored) and XEP-0085 section
    # 5.8 (servers SHOULD NOT store standalone notifications offline, whatever the type): a message whose only
    # payload is a chat state, beside a <thread/> (XEP-0085 sections 2 and 5.6) and identifiers, is not kept.
    has_state = False
    for child in message.elements():
        if child.ns == NS_CHATSTATES:
            has_state = True
        elif not (child.ns in (NS_HINTS, NS_SID) or (child.name == "thread" and child.ns == message.ns)):
            return True  # any other content is kept: XEP-0160 section 3, "normal" and "chat" SHOULD be stored
    return not has_state


class Offline(Module):
    name = "offline"
    spec = Spec(
        "XEP-0160",
        version="1.0.1",
        note="with XEP-0203 (2.0) delay stamps and XEP-0334 (1.0.0) storage hints",
    )
    # XEP-0160 section 4: a server that stores offline messages SHOULD advertise "msgoffline".
    features = (FEATURE,)

    @dataclass(frozen=True, slots=True)
    class Config:
        max_messages: int = option(1000, minimum=0, maximum=1_000_000)
        """How many messages are kept for one user; further ones are refused with resource-constraint (the
        offline queue is full). 0 stores nothing, as if the module were disabled."""

    def __init__(self, host: Host, config: Any) -> None:
        super().__init__(host, config)
        # One lock per user serializes deliveries; a lock lives as long as someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Available sessions with a negative priority: offline messages wait until they raise it.
        self._negative: weakref.WeakSet[LocalSession] = weakref.WeakSet()

    # -- storing (XEP-0160 sections 2 and 3) -----------------------------------------------------------------

    @hook(hooks.MESSAGE_OFFLINE)
    async def store(self, context: StanzaContext) -> hooks.Handled | None:
        """Keep the message and answer HANDLED once it is committed; None lets the router refuse it."""
        username = context.to.local
        if username is None or self.config.max_messages <= 0 or not should_store(context.stanza):
            return None  # RFC 6121 section 8.5.2.2.1: not stored, so service-unavailable
        data = to_bytes(self._without_forged_delay(context.stanza))
        try:
            stored = await self.host.storage.offline.store(
                self.host.name, username, context.stamp, data, self.config.max_messages
            )
        except StorageError:
            self.log.exception("cannot store an offline message for %s", username)
            self.host.router.bounce(context.stanza, StanzaError("internal-server-error", type="wait"))
            return hooks.HANDLED
        if not stored:
            # The queue is full. XEP-0160 section 2 (step 3) suggests service-unavailable; we answer
            # resource-constraint (RFC 6120 section 8.3.3.18, type wait) so the sender learns the message was
            # refused for a reason that passes, not because the account is gone.
            self.log.info("offline storage of %s is full (%d messages)", username, self.config.max_messages)
            self.host.router.bounce(
                context.stanza, StanzaError("resource-constraint", "offline storage is full")
            )
            return hooks.HANDLED
        # Committed. A session that became available while this was stored may already have fetched the queue:
        # deliver to it now rather than at its next login. (Before the commit, its own flush will find this.)
        session = self._most_available(context.to.bare())
        if session is not None:
            try:
                await self._flush(session)
            except Exception:
                # The message is kept whatever happened here: the sender must not be told otherwise.
                self.log.exception("cannot deliver the offline messages of %s", username)
        return hooks.HANDLED

    def _without_forged_delay(self, message: Element) -> Element:
        """``message``, or a copy without the delay elements that claim to be this server's own.

        The server adds its delay only when it delivers, so one already there from this domain was forged by the
        sender: XEP-0203 section 5 has the server drop such notations. Other entities' delays stay.
        """
        children = message.children
        kept = [
            child
            for child in children
            if not (
                isinstance(child, Element) and child.ns == NS_DELAY and child.get("from") == self.host.name
            )
        ]
        if len(kept) == len(children):
            return message
        return Element(message.name, message.ns, message.attrs, kept)

    # -- delivering (XEP-0160 section 2, step 5) -------------------------------------------------------------

    @hook(hooks.INITIAL_PRESENCE)
    async def initial_presence(self, context: StanzaContext) -> None:
        """A session sent its first available presence: deliver what waited, unless its priority is negative."""
        session = context.session
        if session is not None and session.jid.domain == self.host.name:
            await self._flush(session)  # checks the priority

    @hook(hooks.PRESENCE_BROADCAST)
    async def presence_changed(self, context: StanzaContext) -> None:
        """Follow sessions of negative priority: raising it to 0 or more is the moment to deliver."""
        session = context.session
        if session is None or session.jid.domain != self.host.name:
            return
        # The session's current state, not this stanza's: a later presence may already have changed it.
        if not session.available:
            self._negative.discard(session)
        elif session.priority < 0:
            # RFC 6121 section 8.5.2.2.1 and XEP-0160 section 2 note 4: never to a negative priority.
            self._negative.add(session)
        elif session in self._negative:
            self._negative.discard(session)
            await self._flush(session)

    def _can_receive(self, session: LocalSession) -> bool:
        return self.host.sessions.get(session.jid) is session and session.available and session.priority >= 0

    def _most_available(self, bare: JID) -> LocalSession | None:
        candidates = [s for s in self.host.sessions.available(bare) if s.priority >= 0]
        return max(candidates, key=lambda s: s.priority) if candidates else None

    async def _flush(self, session: LocalSession) -> None:
        """Deliver the user's stored messages to ``session`` in arrival order, then delete exactly those."""
        username = session.jid.local
        if username is None:
            return
        lock = self._locks.get(username)
        if lock is None:
            lock = self._locks[username] = asyncio.Lock()
        async with lock:
            if not self._can_receive(session):
                return
            store = self.host.storage.offline
            delivered: list[int] = []
            try:
                for message in await store.fetch(self.host.name, username):
                    stanza = self._restore(message)
                    if stanza is not None and not await self._allowed(stanza, session, message.stamp):
                        stanza = None  # refused for good: dropped or bounced
                    elif not self._can_receive(session):
                        break  # the session went away (or lowered its priority) meanwhile: the rest waits
                    if stanza is not None:
                        session.deliver(stanza)
                    delivered.append(message.id)
            finally:
                # Only what was handed to the session (or refused for good) is deleted. Should this fail, the
                # messages are delivered again next time: twice rather than never.
                if delivered:
                    await store.delete(self.host.name, username, delivered)

    def _restore(self, message: OfflineMessage) -> Element | None:
        """The stored message with this server's delay notation added (XEP-0203 section 2, XEP-0160 section 2)."""
        try:
            stanza = parse_document(message.stanza)
        except ValueError:
            self.log.error("offline message %d is unreadable: dropped", message.id)
            return None
        stanza.append(delay_element(self.host.name, message.stamp, DELAY_REASON))
        return stanza

    async def _allowed(self, stanza: Element, session: LocalSession, stamp: int) -> bool:
        """Run the host's inbound filters again: the user may have blocked the sender since (XEP-0191)."""
        if not self.host.filters_in:
            return True
        try:
            sender = JID.parse(stanza.attrs.get("from", ""))
        except JIDError:
            return True
        context = StanzaContext(stanza, sender, session.jid, self.host, None, stamp)
        for check in self.host.filters_in:
            answer = check(context)
            verdict = await answer if inspect.isawaitable(answer) else answer
            if verdict is DROP:
                return False
            if isinstance(verdict, StanzaError):
                self.host.router.bounce(stanza, verdict)
                return False
        return True

    # -- account deletion ------------------------------------------------------------------------------------

    @hook(hooks.ACCOUNT_DELETED)
    async def delete_account(self, event: hooks.AccountDeleted) -> None:
        if event.host == self.host.name:
            await self.host.storage.offline.delete_user(self.host.name, event.username)
