"""The presence stanzas the presence module builds, and the addresses it follows, as pure functions.

Nothing here changes the element it is given: a stanza handed to a hook may be routed by others too, so every
function returns a new element (children are shared where only attributes differ: they are never changed). The
one exception, ``serialized``, is for an element the module built itself.
"""

from __future__ import annotations

from xmppd.jid import JID
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_DELAY, NS_STREAMS
from xmppd.xml.serializer import escape_attr, to_bytes
from xmppd.xml.stanza import delay_element

# How a serialized presence starts: ``addressed`` puts the 'to' right after it.
_OPEN_TAG = b"<presence"

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
    """A copy of ``stanza`` to ``to`` (its ``from`` kept).

    When ``stanza`` has no 'to' and carries its bytes (``serialized``), so does the copy: the same bytes with the
    'to' added, so that a presence sent to many is serialized once.
    """
    copy = stanza.shallow_copy()
    address = copy.attrs["to"] = str(to)
    source = stanza.source
    if source is not None and "to" not in stanza.attrs and source.startswith(_OPEN_TAG):
        end = len(_OPEN_TAG)
        copy.source = b"".join((_OPEN_TAG, b" to='", escape_attr(address).encode(), b"'", source[end:]))
    return copy


def serialized(stanza: Element) -> Element:
    """``stanza`` with its ``Element.source`` set: serialized as a client stream writes it (the default namespace
    ``jabber:client``, the prefix ``stream`` for the streams namespace). It must not change afterwards."""
    stanza.source = to_bytes(stanza, NS_CLIENT, {NS_STREAMS: "stream"})
    return stanza


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
