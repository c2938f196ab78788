"""The load generator's stream scanner, negotiation helpers and message token."""

from __future__ import annotations

import pytest

from benchmarks.loadgen.msg import message_template
from benchmarks.loadgen.scanner import (
    END,
    HEADER,
    ScanError,
    StanzaScanner,
    attribute,
    condition,
    is_error,
    local_names,
    make_token,
    parse_token,
    session_required,
    text,
    texts,
)

PROSODY_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    b"xml:lang='en' id='abc' from='localhost' version='1.0' xmlns='jabber:client'>"
)
EJABBERD_HEADER = (
    b'<?xml version="1.0"?><stream:stream xmlns="jabber:client" '
    b'xmlns:stream="http://etherx.jabber.org/streams" id="123" from="localhost" version="1.0">'
)
TOKEN = make_token(7, 42, 123456789)
PROSODY_MESSAGE = (
    b"<message type='chat' to='b@localhost/r' from='a@localhost/r' id='42'><body>"
    + TOKEN
    + b"xx</body></message>"
)
EJABBERD_MESSAGE = (
    b'<message xmlns="jabber:client" id="42" type="chat" from="a@localhost/r" to="b@localhost/r">'
    b"<body>" + TOKEN + b"xx</body></message>"
)
PREFIXED_MESSAGE = (
    b"<cl:message xmlns:cl='jabber:client' id='42' to='b@localhost/r'><cl:body>"
    + TOKEN
    + b"</cl:body></cl:message>"
)


def stream(header: bytes) -> bytes:
    return (
        header
        + b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        + b"\n"
        + PROSODY_MESSAGE
        + b" "
        + EJABBERD_MESSAGE
        + PREFIXED_MESSAGE
        + b"<presence from='a@localhost/r'/>"
        + b'<presence from="c@localhost/r"><show>away</show></presence>'
        + b"<iq type='result' id='q1'/>"
        + b"</stream:stream>"
    )


EXPECTED_NAMES = [
    HEADER,
    b"features",
    b"message",
    b"message",
    b"message",
    b"presence",
    b"presence",
    b"iq",
    END,
]


@pytest.mark.parametrize("header", [PROSODY_HEADER, EJABBERD_HEADER])
def test_whole_stream(header: bytes) -> None:
    items = StanzaScanner().feed(stream(header))
    assert [name for name, _ in items] == EXPECTED_NAMES
    assert items[0][1] == header[header.index(b"<stream:stream") :]
    assert items[2][1] == PROSODY_MESSAGE
    assert items[3][1] == EJABBERD_MESSAGE
    assert items[4][1] == PREFIXED_MESSAGE


@pytest.mark.parametrize("header", [PROSODY_HEADER, EJABBERD_HEADER])
def test_every_split_point_gives_the_same_elements(header: bytes) -> None:
    data = stream(header)
    whole = StanzaScanner().feed(data)
    for cut in range(1, len(data)):
        scanner = StanzaScanner()
        assert scanner.feed(data[:cut]) + scanner.feed(data[cut:]) == whole, cut


def test_byte_by_byte() -> None:
    data = stream(PROSODY_HEADER)
    scanner = StanzaScanner()
    items = []
    for i in range(len(data)):
        items.extend(scanner.feed(data[i : i + 1]))
    assert items == StanzaScanner().feed(data)
    assert scanner.buffered == 0


def test_message_split_across_chunks_is_held_back() -> None:
    scanner = StanzaScanner()
    assert scanner.feed(PROSODY_HEADER) == [(HEADER, PROSODY_HEADER[PROSODY_HEADER.index(b"<stream") :])]
    half = len(EJABBERD_MESSAGE) // 2
    assert scanner.feed(PROSODY_MESSAGE + EJABBERD_MESSAGE[:half]) == [(b"message", PROSODY_MESSAGE)]
    assert scanner.buffered == half
    assert scanner.feed(EJABBERD_MESSAGE[half:]) == [(b"message", EJABBERD_MESSAGE)]


def test_nested_element_of_the_same_name() -> None:
    forwarded = (
        b"<message to='a@localhost'><forwarded xmlns='urn:xmpp:forward:0'><message to='b@localhost'>"
        b"<body>inner</body></message></forwarded></message>"
    )
    scanner = StanzaScanner()
    scanner.feed(PROSODY_HEADER)
    for cut in range(1, len(forwarded)):
        assert scanner.feed(forwarded[:cut]) == []
        assert scanner.feed(forwarded[cut:] + b"<presence/>") == [
            (b"message", forwarded),
            (b"presence", b"<presence/>"),
        ]


def test_restart_expects_a_new_header() -> None:
    scanner = StanzaScanner()
    scanner.feed(PROSODY_HEADER + b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    scanner.restart()
    items = scanner.feed(EJABBERD_HEADER + b"<stream:features/>")
    assert [name for name, _ in items] == [HEADER, b"features"]
    assert scanner.header_qname == b"stream:stream"


def test_stream_error() -> None:
    error = (
        b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error>"
    )
    scanner = StanzaScanner()
    scanner.feed(PROSODY_HEADER)
    [(name, raw)] = scanner.feed(error)
    assert name == b"error"
    assert condition(raw) == "conflict"
    assert text(raw, b"text") == b"replaced"


def test_malformed_input() -> None:
    scanner = StanzaScanner()
    scanner.feed(PROSODY_HEADER)
    with pytest.raises(ScanError):
        scanner.feed(b"< message>")


def test_attributes_either_quoting() -> None:
    assert attribute(PROSODY_MESSAGE, b"id") == b"42"
    assert attribute(EJABBERD_MESSAGE, b"id") == b"42"
    assert attribute(EJABBERD_MESSAGE, b"from") == b"a@localhost/r"
    assert attribute(PROSODY_MESSAGE, b"xml:lang") is None
    # Only the start tag counts.
    assert attribute(b"<iq type='result'><query id='x'/></iq>", b"id") is None


def test_is_error() -> None:
    assert is_error(b"<message type='error' from='x'><body>b</body><error type='cancel'/></message>")
    assert is_error(b'<iq type="error" id="1"/>')
    assert not is_error(PROSODY_MESSAGE)
    assert not is_error(b"<message type='chat'><body>'error'</body></message>")


def test_token_in_any_serialization() -> None:
    for raw in (PROSODY_MESSAGE, EJABBERD_MESSAGE, PREFIXED_MESSAGE):
        assert parse_token(raw) == (7, 42, 123456789)
    assert parse_token(b"<message><body>hello</body></message>") is None
    assert parse_token(b"<message><body>~LG12</body></message>") is None


def test_message_template() -> None:
    template = message_template("b@localhost/r'&", 3)
    raw = template % (5, 5, 99)
    assert raw.startswith(b"<message type='chat' to='b@localhost/r&apos;&amp;' id='5'><body>~LG000003.")
    assert parse_token(raw) == (3, 5, 99)
    body = raw[raw.index(b"<body>") + 6 : raw.index(b"</body>")]
    assert len(body) == 100


def test_negotiation_helpers() -> None:
    features = (
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
        b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    )
    assert local_names(features) == [
        b"features",
        b"starttls",
        b"required",
        b"mechanisms",
        b"mechanism",
        b"mechanism",
    ]
    assert texts(features, b"mechanism") == [b"SCRAM-SHA-1", b"PLAIN"]
    assert text(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", b"success") == b""
    assert text(b"<challenge xmlns='x'>abc=</challenge>", b"challenge") == b"abc="
    assert text(b"<iq><bind><jid>a&amp;b@x/r</jid></bind></iq>", b"jid") == b"a&b@x/r"
    failure = b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>no</text></failure>"
    assert condition(failure) == "not-authorized"
    iq_error = (
        b"<iq type='error' id='n1'><query xmlns='jabber:iq:register'/><error type='cancel'>"
        b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    assert condition(iq_error, b"error") == "conflict"
    assert condition(b"<iq type='result'/>", b"error") == "no error element"


def test_session_required() -> None:
    ns = b"urn:ietf:params:xml:ns:xmpp-session"
    assert not session_required(b"<stream:features><bind/></stream:features>")
    assert session_required(b"<stream:features><session xmlns='" + ns + b"'/></stream:features>")
    assert not session_required(
        b"<stream:features><session xmlns='" + ns + b"'><optional/></session></stream:features>"
    )
    assert not session_required(b'<features><session xmlns="' + ns + b'"><optional/></session></features>')
