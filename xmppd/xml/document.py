"""One element as a standalone document: what ``serializer.to_bytes`` writes for storage, parsed back.

Stores keep small XML documents as bytes (a vCard, a private XML fragment). ``parse_document`` reads one back
with the same hardened parser as the streams (no DTDs, entities, comments or processing instructions; RFC 6120
section 11.1), so stored data is never trusted more than what a client sent.
"""

from __future__ import annotations

from typing import Final

from xmppd.errors import StreamError
from xmppd.xml.element import Element
from xmppd.xml.parser import DEFAULT_MAX_STANZA_SIZE, StreamParser

# The parser reads streams: a wrapper element stands in for the stream header, the document is its one child.
_OPEN: Final = b"<document>"
_CLOSE: Final = b"</document>"


def parse_document(data: bytes) -> Element:
    """The single element serialized in ``data`` (UTF-8, as ``to_bytes`` with no default namespace writes it).

    An element written without a namespace declaration is in no namespace (``ns == ""``). Raises ``ValueError``
    when ``data`` is not exactly one well-formed element.
    """
    parser = StreamParser(max_stanza_size=max(DEFAULT_MAX_STANZA_SIZE, len(data) + 1))
    try:
        events = parser.feed(_OPEN + data + _CLOSE)
    except StreamError as error:
        raise ValueError(f"not a well-formed element: {error}") from None
    elements = [event for event in events if isinstance(event, Element)]
    if len(elements) != 1 or parser.depth != 0:
        raise ValueError("expected exactly one element")
    return elements[0]
