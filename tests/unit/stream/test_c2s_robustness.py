"""Whatever a client sends, the c2s stream answers with events and well-formed bytes, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.streams import HEADER, ClientEnd, establish
from xmppd.errors import StreamError
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import StreamClosed
from xmppd.xml.element import Element
from xmppd.xml.parser import StreamClose, StreamParser

CONFIG = C2SConfig(hosts=frozenset({"localhost"}), max_stanza_size=4096)

FRAGMENTS = st.sampled_from(
    [
        HEADER.format(host="localhost"),
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1hLHI9eA==</auth>",
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>",
        "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        "<message to='bob@localhost'><body>hi &amp; bye</body></message>",
        "<presence/>",
        "<iq type='get' id='1'/>",
        "</stream:stream>",
        "<!DOCTYPE x>",
        "<!-- c -->",
        "<?pi x?>",
        "&unknown;",
        "<a:b xmlns:a='urn:x' a:c='1' a:c='2'/>",
        " \n\t",
        "\u00e9\U0001f600",
        "<",
        ">",
        "'",
    ]
)


def _check_output(data: bytes) -> None:
    """What the server wrote parses as a stream (a header first, then elements, maybe the closing tag)."""
    parser = StreamParser()
    if data:
        events = parser.feed(data)
        for event in events[1:]:
            assert isinstance(event, Element | StreamClose)


def _drive(stream: C2SStream, chunks: list[bytes]) -> bytes:
    out = b""
    for chunk in chunks:
        events = stream.receive_data(chunk)
        out += stream.data_to_send()
        if any(isinstance(e, StreamClosed) for e in events):
            assert stream.is_closed
        if stream.is_closed:
            break
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_bytes_before_authentication(chunks: list[bytes]) -> None:
    stream = C2SStream(CONFIG, secured=True)
    _check_output(_drive(stream, chunks))


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=12), st.integers(min_value=1, max_value=16))
def test_xmpp_like_fragments_in_any_chunking(fragments: list[str], size: int) -> None:
    data = "".join(fragments).encode()
    stream = C2SStream(CONFIG, secured=True)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    _check_output(_drive(stream, chunks))


@settings(max_examples=200, deadline=None)
@given(st.lists(FRAGMENTS, max_size=10))
def test_fragments_on_an_established_stream(fragments: list[str]) -> None:
    end = establish(config=CONFIG)
    try:
        for fragment in fragments:
            end.send(fragment)
    except StreamError as error:  # pragma: no cover - the assertion below reports it
        raise AssertionError(f"receive_data raised {error!r}") from error
    # Everything the server sent after negotiation is well-formed XML within the open stream.
    assert all(isinstance(item, Element | StreamClose) for item in end.received)


def test_closed_stream_ignores_further_input() -> None:
    end = ClientEnd(C2SStream(CONFIG, secured=True))
    end.send("<not-a-stream/>")
    assert end.stream.is_closed
    assert end.stream.receive_data(b"<message/>") == []
    assert end.stream.data_to_send() == b""
