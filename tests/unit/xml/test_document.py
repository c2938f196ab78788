"""parse_document: what to_bytes writes for storage comes back as the same element, and nothing else parses."""

from __future__ import annotations

import pytest

from tests.helpers.xml import parse
from xmppd.xml.document import parse_document
from xmppd.xml.element import Element
from xmppd.xml.serializer import to_bytes


@pytest.mark.parametrize(
    "xml",
    [
        "<vCard xmlns='vcard-temp'><FN>A &amp; B</FN><PHOTO><BINVAL>\nAAAA\n</BINVAL></PHOTO></vCard>",
        "<storage xmlns='storage:bookmarks'><conference jid='r@m' autojoin='true'><nick>n</nick></conference>"
        "</storage>",
        "<x xmlns='urn:a' xml:lang='fr'>mixed <b xmlns='urn:b'>content</b> kept</x>",
        "<empty xmlns='urn:e'/>",
    ],
)
def test_round_trip(xml: str) -> None:
    element = parse(xml)
    assert parse_document(to_bytes(element)) == element


def test_large_document() -> None:
    element = Element("big", "urn:big", text="x" * 600_000)
    assert parse_document(to_bytes(element)) == element


def test_element_without_namespace_declaration_is_in_no_namespace() -> None:
    assert parse_document(b"<a/>") == Element("a", "")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"text",
        b"<a/><b/>",
        b"<a>",
        b"<a></b>",
        b"<!DOCTYPE a><a/>",
        b"<a>&custom;</a>",
        b"<!-- c --><a/>",
        b"</document><a/>",
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_document(data)
