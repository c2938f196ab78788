"""RFC 6121 section 2: roster items on the wire, and the rules a roster set must follow.

Pure functions for ``xmppd.modules.roster``: reading a roster set (sections 2.1.5, 2.3.3, 2.4.3 and 2.5), the
``ver`` attribute of a roster get (section 2.6.2), and rendering items, results and pushes (sections 2.1.2 and
2.1.4). Nothing here awaits or touches storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xmppd.errors import JIDError, StanzaError
from xmppd.jid import JID
from xmppd.storage.roster import RosterItem
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_ROSTER


@dataclass(frozen=True, slots=True)
class RosterSet:
    """What a valid roster set asks for: remove ``jid``, or create or update it with ``name`` and ``groups``."""

    jid: str
    """The contact's bare JID, prepared."""
    remove: bool
    name: str | None = None
    groups: tuple[str, ...] = ()
    """Sorted, no duplicates (as the stores keep them)."""


def parse_roster_set(query: Element, owner: JID, max_name_length: int, max_group_length: int) -> RosterSet:
    """Read the ``<query xmlns='jabber:iq:roster'/>`` of a roster set sent by ``owner`` (a bare JID).

    Raises ``StanzaError``, with the condition RFC 6121 section 2.3.3 names for each case:

    - bad-request: not exactly one ``<item/>`` (section 2.1.5 rule 1), no ``jid``, a full JID, or a group
      named twice;
    - jid-malformed: a ``jid`` that is not a JID (RFC 6120 section 8.3.3.8);
    - not-allowed: the user's own JID (a user is not a contact of itself);
    - not-acceptable: a name or a group longer than the configured limits, or an empty group.

    The ``subscription`` attribute matters only as "remove": section 2.1.5 rule 2 has the server ignore any
    other value; ``ask`` and ``approved`` are the server's to set (sections 2.1.2.1 and 2.1.2.2) and ignored.
    """
    children = query.elements()
    if len(children) != 1 or children[0].name != "item" or children[0].ns != NS_ROSTER:
        # Section 2.1.5, rule 1: one and only one <item/>.
        raise StanzaError("bad-request", "a roster set contains exactly one item")
    item = children[0]
    text = item.attrs.get("jid")
    if text is None:
        # Section 2.1.2.3: the 'jid' attribute is REQUIRED when a client adds, updates or deletes an item.
        raise StanzaError("bad-request", "the item has no 'jid'")
    try:
        contact = JID.parse(text)
    except JIDError:
        raise StanzaError("jid-malformed", "the item's 'jid' is not a valid JID") from None
    if contact.resource is not None:
        # Rosters hold bare JIDs: subscriptions are between accounts (RFC 6121 section 3).
        raise StanzaError("bad-request", "a roster item is a bare JID")
    if item.attrs.get("subscription") == "remove":
        return RosterSet(str(contact), remove=True)
    if contact == owner:
        raise StanzaError("not-allowed", "the user's own JID cannot be a roster item")
    name = item.attrs.get("name") or None  # an empty name is no name
    if name is not None and len(name) > max_name_length:
        # Section 2.3.3: a 'name' longer than a server-configured limit.
        raise StanzaError("not-acceptable", f"the name is longer than {max_name_length} characters")
    groups: list[str] = []
    for group in item.find_all("group", NS_ROSTER):
        label = group.text
        if not label:
            # Section 2.3.3: the XML character data of a <group/> is of zero length.
            raise StanzaError("not-acceptable", "a group has no name")
        if len(label) > max_group_length:
            # Section 2.3.3: a <group/> larger than a server-configured limit.
            raise StanzaError("not-acceptable", f"a group name is longer than {max_group_length} characters")
        if label in groups:
            # Section 2.3.3: an item with duplicate groups is a bad request.
            raise StanzaError("bad-request", "the same group is named twice")
        groups.append(label)
    return RosterSet(str(contact), remove=False, name=name, groups=tuple(sorted(groups)))


def parse_ver(text: str | None) -> int | None:
    """The roster version a roster get names (section 2.6.2), or None for none or one we never issue.

    Versions on the wire are our integers written in decimal; anything else (an empty ``ver``, which a client
    without a cached roster sends, or another server's version string) asks for the whole roster.
    """
    if text is None or not text.isascii() or not text.isdigit():
        return None
    version = int(text)
    return version if str(version) == text else None


def item_element(item: RosterItem) -> Element:
    """``<item/>`` as in roster results and pushes (sections 2.1.2 and 2.1.4)."""
    attrs = {"jid": item.jid}
    if item.name:
        attrs["name"] = item.name
    attrs["subscription"] = item.subscription
    if item.ask:
        # Section 2.1.2.2: 'ask' is "subscribe" while the user's request is pending ("Pending Out").
        attrs["ask"] = "subscribe"
    if item.approved:
        # Section 2.1.2.1: included only when true (a pre-approval, section 3.4).
        attrs["approved"] = "true"
    element = Element("item", NS_ROSTER, attrs)
    for group in item.groups:
        element.add("group", text=group)
    return element


def removed_element(jid: str) -> Element:
    """The ``<item/>`` of a removal push (section 2.5.2): subscription "remove"."""
    return Element("item", NS_ROSTER, {"jid": jid, "subscription": "remove"})


def query_element(version: int, items: Iterable[Element]) -> Element:
    """``<query xmlns='jabber:iq:roster' ver='...'/>`` with ``items`` (section 2.1.4; ``ver``, section 2.6)."""
    children: list[Element | str] = list(items)
    return Element("query", NS_ROSTER, {"ver": str(version)}, children)
