"""Stanza helpers: RFC 6120 section 8 rules on the three stanza kinds, replies and error replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from xmppd.errors import StanzaError, StreamError
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DELAY, NS_STANZAS, NS_STREAM_ERRORS, NS_STREAMS

STANZA_NAMES: Final = frozenset({"message", "presence", "iq"})
IQ_TYPES: Final = frozenset({"get", "set", "result", "error"})
MESSAGE_TYPES: Final = frozenset({"chat", "error", "groupchat", "headline", "normal"})
PRESENCE_TYPES: Final = frozenset(
    {"error", "probe", "subscribe", "subscribed", "unavailable", "unsubscribe", "unsubscribed"}
)


def message_type(stanza: Element) -> str:
    """The message type; RFC 6121 section 5.2.2: absent or unknown values are treated as "normal"."""
    value = stanza.attrs.get("type")
    if value is None or value not in MESSAGE_TYPES:
        return "normal"
    return value


def check_stanza(stanza: Element) -> None:
    """Raise ``StanzaError("bad-request")`` where a stanza breaks RFC 6120 section 8.

    - iq: ``id`` and ``type`` are REQUIRED, type is one of get/set/result/error (8.2.3); a get or set contains
      exactly one child element, a result zero or one (8.2.3).
    - presence: a ``type``, when present, is one RFC 6121 defines (4.7.1) - otherwise it is not a presence we can
      process.
    """
    name = stanza.name
    if name == "iq":
        if not stanza.attrs.get("id"):
            raise StanzaError("bad-request", "iq without id")
        iq_type = stanza.attrs.get("type")
        if iq_type not in IQ_TYPES:
            raise StanzaError("bad-request", "iq type must be get, set, result or error")
        if iq_type in ("get", "set"):
            count = sum(1 for c in stanza.children if isinstance(c, Element))
            if count != 1:
                raise StanzaError("bad-request", "an iq get or set contains exactly one child element")
        elif iq_type == "result" and sum(1 for c in stanza.children if isinstance(c, Element)) > 1:
            raise StanzaError("bad-request", "an iq result contains at most one child element")
    elif name == "presence":
        presence_type = stanza.attrs.get("type")
        if presence_type is not None and presence_type not in PRESENCE_TYPES:
            raise StanzaError("bad-request", "unknown presence type")


def iq_payload(stanza: Element) -> Element | None:
    """The single child of an iq (the first child element of any stanza)."""
    for child in stanza.children:
        if isinstance(child, Element):
            return child
    return None


def is_error_or_result(stanza: Element) -> bool:
    """Errors and iq results are never answered (RFC 6120 sections 8.2.3 and 8.3.1)."""
    stanza_type = stanza.attrs.get("type")
    return stanza_type == "error" or (stanza.name == "iq" and stanza_type == "result")


def reply(stanza: Element, payload: Element | None = None) -> Element:
    """An iq ``result`` answering ``stanza``, with ``payload`` inside (RFC 6120 section 8.2.3)."""
    if is_error_or_result(stanza):
        raise ValueError("refusing to answer an error or result")
    attrs = {"type": "result", "id": stanza.attrs.get("id", "")}
    sender = stanza.attrs.get("from")
    if sender is not None:
        attrs["to"] = sender
    recipient = stanza.attrs.get("to")
    if recipient is not None:
        attrs["from"] = recipient
    return Element("iq", stanza.ns, attrs, [payload] if payload is not None else None)


def error_element(error: StanzaError, ns: str, by: str | None = None) -> Element:
    """``<error type='...'><condition xmlns='...stanzas'/><text/></error>`` (RFC 6120 section 8.3.2)."""
    attrs: dict[str, str] = {"type": error.type}
    if by is not None:
        attrs["by"] = by
    element = Element("error", ns, attrs)
    element.add(error.condition, NS_STANZAS)
    if error.text:
        element.add("text", NS_STANZAS, text=error.text)
    if error.app is not None:
        element.add(error.app[1], error.app[0])
    return element


def error_reply(stanza: Element, error: StanzaError, *, from_: str | None = None) -> Element:
    """The error stanza answering ``stanza`` (RFC 6120 section 8.3.1): addresses swapped, same id, type error.

    Refuses to answer an error or an iq result, as RFC 6120 section 8.3.1 forbids.
    ``from_`` overrides the sender (for stanzas that had no ``to``, the server answers from its domain).
    """
    if is_error_or_result(stanza):
        raise ValueError("refusing to answer an error or result")
    attrs: dict[str, str] = {"type": "error"}
    stanza_id = stanza.attrs.get("id")
    if stanza_id is not None:
        attrs["id"] = stanza_id
    sender = stanza.attrs.get("from")
    if sender is not None:
        attrs["to"] = sender
    origin = from_ if from_ is not None else stanza.attrs.get("to")
    if origin is not None:
        attrs["from"] = origin
    return Element(stanza.name, stanza.ns, attrs, [error_element(error, stanza.ns)])


def stream_error_element(error: StreamError) -> Element:
    """``<stream:error><condition xmlns='...xmpp-streams'/>[<text/>]</stream:error>`` (RFC 6120 section 4.9.2)."""
    element = Element("error", NS_STREAMS)
    element.add(error.condition, NS_STREAM_ERRORS)
    if error.text:
        element.add("text", NS_STREAM_ERRORS, text=error.text)
    return element


def delay_stamp(stamp: int) -> str:
    """``stamp`` (nanoseconds since the epoch) as a XEP-0082 DateTime in UTC, to the millisecond."""
    when = datetime.fromtimestamp(stamp // 1_000_000_000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{stamp // 1_000_000 % 1000:03d}Z"


def delay_element(from_: str, stamp: int, reason: str | None = None) -> Element:
    """XEP-0203 section 2: ``<delay from=... stamp=...>reason</delay>`` for a stanza delayed since ``stamp``."""
    return Element("delay", NS_DELAY, {"from": from_, "stamp": delay_stamp(stamp)}, text=reason)
