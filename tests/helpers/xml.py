"""Build elements from XML text in tests."""

from __future__ import annotations

from xmppd.xml.element import Element
from xmppd.xml.parser import StreamParser

_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)


def parse(xml: str) -> Element:
    """One element, in the jabber:client namespace unless it declares another."""
    parser = StreamParser()
    events = parser.feed(_HEADER + xml.encode())
    elements = [e for e in events if isinstance(e, Element)]
    assert len(elements) == 1, f"expected one element in {xml!r}"
    return elements[0]
