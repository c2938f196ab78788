"""Stanza helpers: RFC 6120 section 8 checks, replies and error replies."""

from __future__ import annotations

import pytest

from tests.helpers.xml import parse
from xmppd.errors import StanzaError, StreamError
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_STANZAS, NS_STREAM_ERRORS, NS_STREAMS
from xmppd.xml.stanza import (
    check_stanza,
    error_element,
    error_reply,
    iq_payload,
    is_error_or_result,
    message_type,
    reply,
    stream_error_element,
)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("<message/>", "normal"),
        ("<message type='chat'/>", "chat"),
        ("<message type='groupchat'/>", "groupchat"),
        ("<message type='headline'/>", "headline"),
        ("<message type='error'/>", "error"),
        ("<message type='bogus'/>", "normal"),  # RFC 6121 section 5.2.2
    ],
)
def test_message_type(xml: str, expected: str) -> None:
    assert message_type(parse(xml)) == expected


@pytest.mark.parametrize(
    "xml",
    [
        "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='set' id='1'><query xmlns='jabber:iq:roster'/></iq>",
        "<iq type='result' id='1'/>",
        "<iq type='result' id='1'><query xmlns='jabber:iq:roster'/></iq>",
        "<iq type='error' id='1'><ping xmlns='urn:xmpp:ping'/><error type='cancel'/></iq>",
        "<message/>",
        "<message type='bogus'/>",
        "<presence/>",
        "<presence type='unavailable'/>",
        "<presence type='subscribe'/>",
    ],
)
def test_valid_stanzas_pass(xml: str) -> None:
    check_stanza(parse(xml))


@pytest.mark.parametrize(
    "xml",
    [
        "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",  # no id (RFC 6120 section 8.2.3)
        "<iq type='get' id=''><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq id='1'><ping xmlns='urn:xmpp:ping'/></iq>",  # no type
        "<iq type='fetch' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='get' id='1'/>",  # a get or set has exactly one child
        "<iq type='set' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
        "<iq type='result' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",  # a result at most one
        "<presence type='online'/>",  # not one of RFC 6121 section 4.7.1
    ],
)
def test_invalid_stanzas_are_bad_request(xml: str) -> None:
    with pytest.raises(StanzaError) as info:
        check_stanza(parse(xml))
    assert (info.value.condition, info.value.type) == ("bad-request", "modify")


def test_text_does_not_count_as_an_iq_child() -> None:
    check_stanza(parse("<iq type='get' id='1'> <ping xmlns='urn:xmpp:ping'/> </iq>"))


def test_iq_payload() -> None:
    assert iq_payload(parse("<iq type='get' id='1'> <ping xmlns='urn:xmpp:ping'/></iq>")) == Element(
        "ping", "urn:xmpp:ping"
    )
    assert iq_payload(parse("<iq type='result' id='1'>text</iq>")) is None


def test_is_error_or_result() -> None:
    assert is_error_or_result(parse("<iq type='result' id='1'/>"))
    assert is_error_or_result(parse("<message type='error'/>"))
    assert is_error_or_result(parse("<presence type='error'/>"))
    assert not is_error_or_result(parse("<iq type='get' id='1'/>"))
    assert not is_error_or_result(parse("<message type='result'/>"))  # only an iq has results


def test_reply_swaps_addresses_and_keeps_the_id() -> None:
    request = parse("<iq type='get' id='p1' from='a@b/c' to='b'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert reply(request) == Element(
        "iq", NS_CLIENT, {"type": "result", "id": "p1", "to": "a@b/c", "from": "b"}
    )
    payload = Element("query", "jabber:iq:version")
    assert reply(request, payload) == Element(
        "iq", NS_CLIENT, {"type": "result", "id": "p1", "to": "a@b/c", "from": "b"}, [payload]
    )
    assert reply(parse("<iq type='set' id='s'><x xmlns='urn:x'/></iq>")).attrs == {
        "type": "result",
        "id": "s",
    }


def test_error_reply() -> None:
    """RFC 6120 section 8.3.1: addresses swapped, the same id, type error, the error element (section 8.3.2)."""
    request = parse("<message from='a@b/c' to='d@e' id='m1' type='chat'><body>hi</body></message>")
    answer = error_reply(request, StanzaError("service-unavailable", "nobody here"))
    assert answer == Element(
        "message",
        NS_CLIENT,
        {"type": "error", "id": "m1", "to": "a@b/c", "from": "d@e"},
        [
            Element(
                "error",
                NS_CLIENT,
                {"type": "cancel"},
                [Element("service-unavailable", NS_STANZAS), Element("text", NS_STANZAS, text="nobody here")],
            )
        ],
    )
    # A stanza with no 'to' is answered from the address given.
    assert error_reply(parse("<presence from='a@b/c'/>"), StanzaError("bad-request"), from_="b").attrs == {
        "type": "error",
        "to": "a@b/c",
        "from": "b",
    }


@pytest.mark.parametrize(
    "xml",
    [
        "<iq type='result' id='1'/>",
        "<iq type='error' id='1'/>",
        "<message type='error'/>",
        "<presence type='error'/>",
    ],
)
def test_errors_and_results_are_never_answered(xml: str) -> None:
    with pytest.raises(ValueError):
        error_reply(parse(xml), StanzaError("bad-request"))
    with pytest.raises(ValueError):
        reply(parse(xml))


def test_error_element_with_by_and_without_text() -> None:
    assert error_element(StanzaError("forbidden"), NS_CLIENT, by="room@muc") == Element(
        "error", NS_CLIENT, {"type": "auth", "by": "room@muc"}, [Element("forbidden", NS_STANZAS)]
    )
    assert error_element(StanzaError("forbidden", type="cancel"), NS_CLIENT).attrs == {"type": "cancel"}


def test_stream_error_element() -> None:
    assert stream_error_element(StreamError("policy-violation", "stanza too large")) == Element(
        "error",
        NS_STREAMS,
        None,
        [
            Element("policy-violation", NS_STREAM_ERRORS),
            Element("text", NS_STREAM_ERRORS, text="stanza too large"),
        ],
    )
    assert stream_error_element(StreamError("restricted-xml")).children == [
        Element("restricted-xml", NS_STREAM_ERRORS)
    ]
