"""The presence stanzas the presence module builds, and the addresses it follows, as pure functions.

Nothing here changes the element it is given: a stanza handed to a hook may be routed by others too, so every
function returns a new element (children are shared where only attributes differ: they are never changed).
"""

from __future__ import annotations

from xmppd.jid import JID
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_DELAY
from xmppd.xml.stanza import delay_element

# RFC 6121 section 3.4: the stream feature that says the server supports subscription pre-approval.


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
    answer.append(delay_element(str(user), stamp))
    return answer
