"""The session table: which resources of which accounts are online, with their presence and priority."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from xmppd.errors import StreamError
from xmppd.jid import JID
from xmppd.xml.element import Element


class LocalSession(Protocol):
    """What routing needs of a bound client session."""

    jid: JID
    priority: int
    """The priority of the last available presence (RFC 6121 section 4.7.2.3); 0 before any."""
    available: bool
    """Whether the resource has sent available presence (RFC 6121 section 4.2) and not gone unavailable since."""
    presence: Element | None
    """The last available presence broadcast by the resource."""
    interested: bool
    """Whether the resource requested the roster: an interested resource gets roster pushes (RFC 6121 2.1.6)."""
    last_activity: float
    """``time.monotonic()`` when the client last sent anything (dead-connection detection)."""

    def deliver(self, stanza: Element) -> None:
        """Queue ``stanza`` for the client (it is written when the loop gets to it)."""

    def close(self, error: StreamError | None = None) -> None:
        """End the session (with a stream error if given)."""


class SessionTable:
    """Bare JID -> resource -> session, for every bound resource on this node."""

    __slots__ = ("_by_bare",)

    def __init__(self) -> None:
        self._by_bare: dict[JID, dict[str, LocalSession]] = {}

    def bind(self, session: LocalSession) -> LocalSession | None:
        """Add a bound session; returns the session it replaces (same full JID), which the caller closes."""
        jid = session.jid
        assert jid.resource is not None
        resources = self._by_bare.setdefault(jid.bare(), {})
        previous = resources.get(jid.resource)
        resources[jid.resource] = session
        return previous if previous is not session else None

    def unbind(self, session: LocalSession) -> bool:
        """Remove ``session`` if it is the one bound to its full JID; True when it was."""
        jid = session.jid
        bare = jid.bare()
        resources = self._by_bare.get(bare)
        if resources is None or jid.resource is None or resources.get(jid.resource) is not session:
            return False
        del resources[jid.resource]
        if not resources:
            del self._by_bare[bare]
        return True

    def get(self, jid: JID) -> LocalSession | None:
        """The session bound to a full JID."""
        resources = self._by_bare.get(jid.bare())
        if resources is None or jid.resource is None:
            return None
        return resources.get(jid.resource)

    def resources(self, bare: JID) -> list[LocalSession]:
        """Every bound session of an account."""
        resources = self._by_bare.get(bare)
        return list(resources.values()) if resources else []

    def has_resource(self, resource_bare: JID, resource: str) -> bool:
        resources = self._by_bare.get(resource_bare)
        return resources is not None and resource in resources

    def available(self, bare: JID) -> list[LocalSession]:
        """The sessions of an account that have sent available presence."""
        resources = self._by_bare.get(bare)
        if not resources:
            return []
        return [s for s in resources.values() if s.available]

    def __iter__(self) -> Iterator[LocalSession]:
        for resources in list(self._by_bare.values()):
            yield from list(resources.values())

    def __len__(self) -> int:
        return sum(len(r) for r in self._by_bare.values())
