"""Rosters (RFC 6121 section 2) and the subscription state that lives in them (section 3, Appendix A).

A user's roster is a set of items, one per contact bare JID. Each item keeps the subscription state from the
user's side: ``subscription`` (none, to, from, both), ``ask`` (the user asked to see the contact's presence and
is waiting: "Pending Out") and ``approved`` (the user pre-approved the contact's request, section 3.4).
"Pending In" (the contact asked and the user has not answered) is kept apart, as a ``PendingRequest`` with the
request stanza, because RFC 6121 section 3.1.3 keeps such a request for a contact that is not in the roster at
all, and delivers it again at every login until it is answered.

Every change to a user's roster gets the next number of that user's roster version (section 2.6). A removed
item leaves a tombstone with the version of its removal, so ``changes_since`` can tell a client that comes back
with an older version exactly what changed, removals included. JIDs arrive prepared (bare, ``str(JID)``) and are
compared as plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

Subscription = Literal["none", "to", "from", "both"]


@dataclass(frozen=True, slots=True)
class RosterItem:
    """One contact in one user's roster."""

    jid: str
    """The contact's bare JID."""
    name: str | None = None
    subscription: Subscription = "none"
    ask: bool = False
    """A subscription request to the contact is pending ("Pending Out"; ``ask='subscribe'`` on the wire)."""
    approved: bool = False
    """The user pre-approved a subscription request from the contact (RFC 6121 section 3.4)."""
    groups: tuple[str, ...] = ()
    """The groups, sorted and without duplicates (every backend stores and returns them that way)."""


@dataclass(frozen=True, slots=True)
class Roster:
    """A user's roster at one version (tombstones not included)."""

    version: int
    """0 for a user whose roster never changed."""
    items: tuple[RosterItem, ...]
    """Sorted by JID."""


@dataclass(frozen=True, slots=True)
class RosterChange:
    """An item changed (``item``) or removed (``item`` None) at ``version``."""

    jid: str
    version: int
    item: RosterItem | None


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """An inbound subscription request the user has not answered ("Pending In")."""

    jid: str
    """The bare JID of the contact that asked."""
    stanza: bytes
    """The ``<presence type='subscribe'/>`` as received (serialized), to deliver again at the next login."""


class RosterStore(Protocol):
    """Rosters and pending subscription requests of every user of every host.

    Every write is committed before its coroutine returns.
    """

    async def get_roster(self, host: str, username: str) -> Roster:
        """The whole roster and its version (an empty roster at version 0 for a user with none)."""
        ...

    async def get_item(self, host: str, username: str, jid: str) -> RosterItem | None:
        """The item for ``jid``, or None."""
        ...

    async def put_item(self, host: str, username: str, item: RosterItem) -> int:
        """Create or replace the item for ``item.jid``; returns the roster's new version."""
        ...

    async def remove_item(self, host: str, username: str, jid: str) -> int | None:
        """Remove the item for ``jid``, leaving a tombstone; the new version, or None when there was no item."""
        ...

    async def changes_since(self, host: str, username: str, version: int) -> list[RosterChange] | None:
        """What changed after ``version``, in version order, one entry per JID (its latest change).

        None when ``version`` is not one this roster had (greater than the current version, or negative): the
        client must then get the whole roster.
        """
        ...

    async def get_pending(self, host: str, username: str) -> list[PendingRequest]:
        """The pending inbound subscription requests, oldest first."""
        ...

    async def add_pending(self, host: str, username: str, jid: str, stanza: bytes) -> bool:
        """Remember a request from ``jid``; False (and nothing changed) when one is pending already."""
        ...

    async def remove_pending(self, host: str, username: str, jid: str) -> bool:
        """Forget the request from ``jid``; False when there was none."""
        ...

    async def delete_user(self, host: str, username: str) -> None:
        """Remove the user's roster, tombstones, version and pending requests (the account is being deleted)."""
        ...


def normalize_item(item: RosterItem) -> RosterItem:
    """``item`` with its groups sorted by code point and without duplicates, the form every backend stores."""
    groups = tuple(sorted(set(item.groups)))
    return item if groups == item.groups else replace(item, groups=groups)
