"""The presence stanzas the presence module builds, and the addresses it follows, as pure functions.

Nothing here changes the element it is given: a stanza handed to a hook may be routed by others too, so every
function returns a new element (children are shared where only attributes differ: they are never changed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from xmppd.jid import JID
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT

# XEP-0203: Delayed Delivery (TODO: move to xmppd.xml.ns with the other namespace constants)
NS_DELAY: Final = "urn:xmpp:delay"
# RFC 6121 section 3.4: the stream feature that says the server supports subscription pre-approval.
NS_PRE_APPROVAL: Final = "urn:xmpp:features:pre-approval"


def presence(presence_type: str | None, from_: JID | str, to: JID | str, id_: str | None = None) -> Element:
    """A ``<presence/>`` of ``presence_type`` (None: available) with no content."""
    attrs = {"from": str(from_), "to": str(to)}
    if presence_type is not None:
        attrs["type"] = presence_type
    if id_ is not None:
        attrs["id"] = id_
    return Element("presence", NS_CLIENT, attrs)


def readdressed(stanza: Element, from_: JID | str, to: JID | str) -> Element:
    """A copy of ``stanza`` from ``from_`` to ``to``, with everything else (type, id, content) kept."""
    copy = stanza.shallow_copy()
    copy.attrs["from"] = str(from_)
    copy.attrs["to"] = str(to)
    return copy


def addressed(stanza: Element, to: JID | str) -> Element:
    """A copy of ``stanza`` to ``to`` (its ``from`` kept)."""
    copy = stanza.shallow_copy()
    copy.attrs["to"] = str(to)
    return copy


def delay_stamp(stamp: int) -> str:
    """A XEP-0082 DateTime in UTC, to the millisecond, for ``stamp`` in nanoseconds since the epoch."""
    when = datetime.fromtimestamp(stamp // 1_000_000_000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{stamp // 1_000_000 % 1000:03d}Z"


def last_unavailable(
    user: JID, to: str, last: Element | None, stamp: int | None, probe_id: str | None
) -> Element:
    """RFC 6121 section 4.3.2's answer to a subscribed prober when the user has no available resource.

    Unavailable presence from the user's bare JID. When the user's last unavailable presence is known
    (``last``, taken at ``stamp``), its content and 'id' go along (MAY) with a XEP-0203 delay stamped with the
    time it was sent (SHOULD); otherwise the answer carries the probe's 'id'.
    """
    if last is None or stamp is None:
        return presence("unavailable", user, to, probe_id)
    answer = presence("unavailable", user, to, last.attrs.get("id"))
    for child in last.elements():
        if child.name != "delay" or child.ns != NS_DELAY:
            answer.append(child)
    answer.add("delay", NS_DELAY, {"from": str(user), "stamp": delay_stamp(stamp)})
    return answer


def matches(item: JID, address: JID) -> bool:
    """Whether a block-list ``item`` covers ``address`` (XEP-0191 section 6, XEP-0016's rules).

    ``user@domain/resource`` covers only that address, ``user@domain`` every resource of it, ``domain/resource``
    that resource at the domain (of any user, as the blocking module reads it), and ``domain`` the domain and
    every address at it.
    """
    if item.local is not None:
        return item == address if item.resource is not None else item == address.bare()
    if item.domain != address.domain:
        return False
    return item.resource is None or item.resource == address.resource
