"""The serializer: exact bytes, escaping, namespaces, and round trips through the parser that never go ill-formed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmppd.errors import StreamError
from xmppd.xml.element import XML_LANG, Element
from xmppd.xml.ns import NS_CLIENT, NS_STANZAS, NS_STREAM_ERRORS, NS_STREAMS, NS_XML
from xmppd.xml.parser import StreamOpen, StreamParser
from xmppd.xml.serializer import STREAM_FOOTER, escape_attr, escape_text, serialize, stream_header, to_bytes

PREFIXES = {NS_STREAMS: "stream"}
HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)


def reparse(data: bytes) -> Element:
    """The one element ``data`` holds, parsed inside a client stream (so in the jabber:client context)."""
    events = StreamParser().feed(HEADER + data)
    assert len(events) == 2 and isinstance(events[1], Element), events
    return events[1]


# -- exact bytes ---------------------------------------------------------------------------------------------------


def test_stream_header_bytes() -> None:
    """RFC 6120 section 4.7: the declaration, both namespaces, then from, to, id, version and xml:lang."""
    assert stream_header(
        content_ns=NS_CLIENT,
        from_="im.example.com",
        to="juliet@im.example.com",
        stream_id="++TR84Sm6A3hnt3Q065SnAbbk3Y=",
    ) == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" from='im.example.com' to='juliet@im.example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' version='1.0'"
        b" xml:lang='en'>"
    )


def test_stream_header_options_and_escaping() -> None:
    assert stream_header(
        content_ns="jabber:server", version=None, lang=None, extra_ns={"db": "jabber:server:dialback"}
    ) == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
        b" xmlns:db='jabber:server:dialback'>"
    )
    assert stream_header(content_ns=NS_CLIENT, stream_id="a'b<&\"", lang="fr") == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" id='a&apos;b&lt;&amp;&quot;' version='1.0' xml:lang='fr'>"
    )


def test_stream_header_and_footer_parse_back() -> None:
    header = stream_header(content_ns=NS_CLIENT, from_="example.com", to="a@example.com", stream_id="x'1")
    assert StreamParser().feed(header + b"<presence/>" + STREAM_FOOTER)[0] == StreamOpen(
        "stream",
        NS_STREAMS,
        {"from": "example.com", "to": "a@example.com", "id": "x'1", "version": "1.0", XML_LANG: "en"},
        {"": NS_CLIENT, "stream": NS_STREAMS},
    )
    assert STREAM_FOOTER == b"</stream:stream>"


@pytest.mark.parametrize(
    "extra_ns",
    [
        {"xml": NS_XML},
        {"xmlns": "urn:x"},
        {"p": ""},
        {"p": "http://www.w3.org/2000/xmlns/"},
        {"a:b": "urn:x"},
    ],
)
def test_stream_header_refuses_declarations_that_are_not_namespace_well_formed(
    extra_ns: dict[str, str],
) -> None:
    with pytest.raises(ValueError):
        stream_header(content_ns=NS_CLIENT, extra_ns=extra_ns)


def test_escaping_in_text_and_attributes() -> None:
    element = Element("body", NS_CLIENT, {"a": "<&>\"'"}, text="<&>\"' ]]>")
    # In text: & < > (so "]]>" cannot appear); quotes stay. In a single-quoted attribute: all five.
    assert (
        to_bytes(element, NS_CLIENT) == b"<body a='&lt;&amp;&gt;&quot;&apos;'>&lt;&amp;&gt;\"' ]]&gt;</body>"
    )
    assert escape_text("a&b") == "a&amp;b" and escape_attr("a&b") == "a&amp;b"


def test_white_space_that_a_parser_would_normalise_is_written_as_references() -> None:
    element = Element("body", NS_CLIENT, {"a": "1\t2\n3\r4 5"}, text="1\t2\n3\r4\r\n5")
    # XML 1.0 section 3.3.3 (attribute values) and 2.11 (line ends).
    assert serialize(element, NS_CLIENT) == "<body a='1&#9;2&#10;3&#13;4 5'>1\t2\n3&#13;4&#13;\n5</body>"
    assert reparse(to_bytes(element, NS_CLIENT)) == element


def test_characters_xml_does_not_allow_are_replaced() -> None:
    # XML 1.0 section 2.2 Char: no C0 controls but tab, LF, CR; no surrogates; no U+FFFE, U+FFFF.
    bad = "\x00\x01\x08\x0b\x0c\x1f\ud800\udfff\ufffe\uffff"
    element = Element("body", NS_CLIENT, {"a": "x" + bad}, text="y" + bad)
    expected = "\ufffd" * len(bad)
    assert serialize(element, NS_CLIENT) == f"<body a='x{expected}'>y{expected}</body>"
    assert reparse(to_bytes(element, NS_CLIENT)) == Element(
        "body", NS_CLIENT, {"a": "x" + expected}, text="y" + expected
    )


def test_non_bmp_and_other_legal_characters_are_written_as_they_are() -> None:
    text = "\U0001f600\U00010000\U0010ffff\u00e9\ue000\ufffd\x7f\x85\u2028"
    assert (
        to_bytes(Element("body", NS_CLIENT, text=text), NS_CLIENT) == b"<body>" + text.encode() + b"</body>"
    )


def test_namespaces_are_declared_where_they_change() -> None:
    iq = Element("iq", NS_CLIENT, {"type": "result", "id": "1"})
    query = iq.add("query", "jabber:iq:roster")
    query.add("item", attrs={"jid": "romeo@example.net"})
    assert serialize(iq, NS_CLIENT) == (
        "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='romeo@example.net'/></query></iq>"
    )
    # With no context (a standalone document) the top element declares its namespace too.
    assert serialize(iq).startswith("<iq xmlns='jabber:client' type='result'")
    # An element in no namespace inside a default namespace undeclares it.
    assert serialize(Element("a", NS_CLIENT, None, [Element("b", "")]), NS_CLIENT) == "<a><b xmlns=''/></a>"
    assert serialize(Element("a", "urn:a&'", None, [Element("b", NS_CLIENT)]), NS_CLIENT) == (
        "<a xmlns='urn:a&amp;&apos;'><b xmlns='jabber:client'/></a>"
    )


def test_prefixed_namespaces_keep_the_context_default() -> None:
    error = Element("error", NS_STREAMS)
    error.add("not-well-formed", NS_STREAM_ERRORS)
    error.add("text", NS_STREAM_ERRORS, attrs={XML_LANG: "en"}, text="bad")
    assert serialize(error, NS_CLIENT, PREFIXES) == (
        "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>bad</text></stream:error>"
    )
    features = Element("features", NS_STREAMS, None, [Element("session", NS_CLIENT)])
    assert serialize(features, NS_CLIENT, PREFIXES) == "<stream:features><session/></stream:features>"


def test_namespaced_attributes_get_prefixes() -> None:
    element = Element("x", "urn:x", {"plain": "1", "{urn:a}one": "2", "{urn:b}two": "3", "{urn:a}three": "4"})
    assert serialize(element, "urn:x") == (
        "<x plain='1' xmlns:ns0='urn:a' ns0:one='2' xmlns:ns1='urn:b' ns1:two='3' ns0:three='4'/>"
    )
    assert reparse(to_bytes(element, NS_CLIENT)) == element


def test_empty_and_mixed_content() -> None:
    assert serialize(Element("a", NS_CLIENT), NS_CLIENT) == "<a/>"
    assert serialize(Element("a", NS_CLIENT, None, [""]), NS_CLIENT) == "<a></a>"
    mixed = Element("p", NS_CLIENT, None, ["a", Element("b", NS_CLIENT, text="c"), "d", "e"])
    assert serialize(mixed, NS_CLIENT) == "<p>a<b>c</b>de</p>"
    assert reparse(to_bytes(mixed, NS_CLIENT)) == mixed


def test_to_bytes_is_utf8_of_serialize() -> None:
    element = Element("body", NS_CLIENT, {"a": "\u00e9"}, text="\U0001f600")
    assert to_bytes(element, NS_CLIENT, PREFIXES) == serialize(element, NS_CLIENT, PREFIXES).encode("utf-8")


UNWRITABLE = {
    "empty-name": Element("", NS_CLIENT),
    "digit-first": Element("1a", NS_CLIENT),
    "space-in-name": Element("a b", NS_CLIENT),
    "colon-in-name": Element("p:a", NS_CLIENT),
    "markup-in-name": Element("a>", NS_CLIENT),
    "empty-attribute": Element("a", NS_CLIENT, {"": "x"}),
    "space-in-attribute": Element("a", NS_CLIENT, {"b c": "x"}),
    "colon-in-attribute": Element("a", NS_CLIENT, {"p:b": "x"}),
    "xmlns-attribute": Element("a", NS_CLIENT, {"xmlns": "urn:other"}),  # would redeclare the namespace
    "clark-no-namespace": Element("a", NS_CLIENT, {"{}b": "x"}),
    "clark-no-name": Element("a", NS_CLIENT, {"{urn:x}": "x"}),
    "clark-unclosed": Element("a", NS_CLIENT, {"{urn:x": "x"}),
    "clark-bad-name": Element("a", NS_CLIENT, {"{urn:x}b c": "x"}),
    "xmlns-namespace-attribute": Element("a", NS_CLIENT, {"{http://www.w3.org/2000/xmlns/}p": "urn:x"}),
    "xml-namespace-default": Element("a", NS_XML),  # the XML namespace may not be a default namespace
    "xmlns-namespace-default": Element("a", "http://www.w3.org/2000/xmlns/"),
    "bad-child": Element("a", NS_CLIENT, None, [Element("b c", NS_CLIENT)]),
    # Fifth-edition names that expat (fourth-edition tables, like most deployed parsers) refuses.
    "compatibility-ideograph": Element("\uf900", NS_CLIENT),
    "compatibility-ideograph-attribute": Element("a", NS_CLIENT, {"\uf900": ""}),
    "non-bmp-name": Element("a\U00010000", NS_CLIENT),
}


@pytest.mark.parametrize("element", list(UNWRITABLE.values()), ids=list(UNWRITABLE))
def test_what_cannot_be_well_formed_is_refused(element: Element) -> None:
    with pytest.raises(ValueError):
        serialize(element, NS_CLIENT)


# -- round trips ---------------------------------------------------------------------------------------------------

# XML 1.0 section 2.2 Char.
_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

XML_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0xD7FF),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
    st.sampled_from("\t\n\r&<>\"']]>"),
)
XML_TEXT = st.text(XML_CHARS, max_size=20)
ANY_TEXT = st.text(st.characters(), max_size=20)  # surrogates and C0 controls included

NAMES = st.one_of(
    st.sampled_from(
        ["message", "body", "x", "_a", "a-b.c", "\u00e9l\u00e9ment", "\u540d\u524d", "xml-ish", "xmlns"]
    ),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.\-]{0,6}\Z"),
)
NAMESPACES = st.sampled_from(
    [NS_CLIENT, NS_STREAMS, NS_STANZAS, "urn:x", "urn:\u00e9", "http://a/?b=1&c='2'", ""]
)
ATTR_KEYS = st.one_of(
    NAMES.filter(lambda name: name != "xmlns"),
    st.tuples(st.sampled_from([NS_XML, "urn:a", "urn:b", NS_CLIENT]), NAMES).map(
        lambda t: "{" + t[0] + "}" + t[1]
    ),
)


def elements(text: st.SearchStrategy[str]) -> st.SearchStrategy[Element]:
    def build(name: str, ns: str, attrs: dict[str, str], children: list[Element | str]) -> Element:
        return Element(name, ns, attrs, children)

    leaf = st.builds(
        build, NAMES, NAMESPACES, st.dictionaries(ATTR_KEYS, text, max_size=4), st.lists(text, max_size=2)
    )
    return st.recursive(
        leaf,
        lambda kids: st.builds(
            build,
            NAMES,
            NAMESPACES,
            st.dictionaries(ATTR_KEYS, text, max_size=4),
            st.lists(st.one_of(kids, text), max_size=4),
        ),
        max_leaves=12,
    )


def cleaned(element: Element) -> Element:
    """``element`` with every character XML does not allow replaced by U+FFFD, as the serializer promises."""

    def clean(value: str) -> str:
        return _ILLEGAL.sub("\ufffd", value)

    return Element(
        element.name,
        clean(element.ns),
        {key: clean(value) for key, value in element.attrs.items()},
        [cleaned(c) if isinstance(c, Element) else clean(c) for c in element.children],
    )


@given(elements(XML_TEXT))
def test_round_trip_of_legal_content(element: Element) -> None:
    """serialize then parse gives the same element back: names, namespaces, attributes, mixed text."""
    assert reparse(to_bytes(element, NS_CLIENT, PREFIXES)) == element
    # Also as a standalone document (every namespace declared) and outside of any prefix context.
    assert reparse(to_bytes(element)) == element


@given(elements(ANY_TEXT))
def test_round_trip_of_any_text_is_well_formed_with_illegal_characters_replaced(element: Element) -> None:
    assert reparse(to_bytes(element, NS_CLIENT, PREFIXES)) == cleaned(element)


@given(text=ANY_TEXT, value=ANY_TEXT)
def test_text_and_attribute_values_round_trip(text: str, value: str) -> None:
    element = Element(
        "message", NS_CLIENT, {"id": value, XML_LANG: value}, [Element("body", NS_CLIENT, text=text)]
    )
    assert reparse(to_bytes(element, NS_CLIENT)) == cleaned(element)


@given(
    name=st.one_of(NAMES, st.text(max_size=6)),
    ns=st.one_of(NAMESPACES, st.text(max_size=8)),
    attrs=st.dictionaries(
        st.one_of(ATTR_KEYS, st.text(max_size=6), st.text(max_size=8).map(lambda k: "{" + k)),
        ANY_TEXT,
        max_size=4,
    ),
    text=ANY_TEXT,
)
def test_output_is_never_ill_formed(name: str, ns: str, attrs: dict[str, str], text: str) -> None:
    """Whatever an element holds, the serializer either refuses it (ValueError) or writes XML that parses back."""
    element = Element(name, ns, attrs, [text, Element(name, ns, attrs)])
    for default_ns in (NS_CLIENT, None):
        try:
            data = to_bytes(element, default_ns, PREFIXES)
        except ValueError:
            continue
        try:
            parsed = reparse(data)
        except StreamError as error:  # pragma: no cover - this is the failure the test looks for
            pytest.fail(f"ill-formed output {data!r}: {error}")
        assert parsed == cleaned(element)
