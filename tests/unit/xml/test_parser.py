"""The incremental, hardened stream parser: events, chunking, RFC 6120 section 11 refusals and resource limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmppd.errors import StreamError
from xmppd.xml.element import XML_LANG, Element
from xmppd.xml.ns import NS_CLIENT, NS_STREAMS, NS_XML
from xmppd.xml.parser import (
    DEFAULT_MAX_ATTRIBUTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_STANZA_SIZE,
    ParseEvent,
    StreamClose,
    StreamOpen,
    StreamParser,
)

HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"to='example.com' version='1.0'>"
)
OPEN = StreamOpen(
    "stream",
    NS_STREAMS,
    {"to": "example.com", "version": "1.0"},
    {"": NS_CLIENT, "stream": NS_STREAMS},
)


def feed_all(chunks: list[bytes], parser: StreamParser | None = None) -> list[ParseEvent]:
    """Every event the chunks produce, in order."""
    parser = parser or StreamParser()
    events: list[ParseEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def refusal(chunks: list[bytes], **limits: int) -> str | None:
    """The condition of the StreamError the chunks cause, or None when they are accepted."""
    parser = StreamParser(**limits)
    try:
        for chunk in chunks:
            parser.feed(chunk)
    except StreamError as error:
        assert parser.broken
        return error.condition
    return None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, duplicates allowed: empty chunks are fed too)."""
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def one_by_one(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- the stream header (RFC 6120 section 4.7) -------------------------------------------------------------------


def test_header_gives_stream_open_with_attributes_and_declarations() -> None:
    header = (
        b"<?xml version='1.0'?><stream:stream from='juliet@im.example.com' to='im.example.com' "
        b"version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    parser = StreamParser()
    assert parser.depth == 0
    assert parser.feed(header) == [
        StreamOpen(
            "stream",
            NS_STREAMS,
            {"from": "juliet@im.example.com", "to": "im.example.com", "version": "1.0", XML_LANG: "en"},
            {"": NS_CLIENT, "stream": NS_STREAMS},
        )
    ]
    assert parser.depth == 1


def test_header_without_version_or_addresses_is_reported_as_is() -> None:
    # Whether a missing version is acceptable is the stream's decision (RFC 6120 section 4.7.5), not the parser's.
    header = b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"
    assert StreamParser().feed(header) == [
        StreamOpen("stream", NS_STREAMS, {}, {"": "jabber:server", "stream": NS_STREAMS})
    ]


def test_header_reports_extra_and_unusual_namespace_declarations() -> None:
    header = (
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
        b"xmlns:db='jabber:server:dialback' id='s1'>"
    )
    assert StreamParser().feed(header) == [
        StreamOpen(
            "stream",
            NS_STREAMS,
            {"id": "s1"},
            {"": "jabber:server", "stream": NS_STREAMS, "db": "jabber:server:dialback"},
        )
    ]
    # A wrong stream namespace or prefix is parsed faithfully, so that the stream can answer invalid-namespace.
    (wrong,) = StreamParser().feed(b"<stream:stream xmlns:stream='urn:not:streams'>")
    assert wrong == StreamOpen("stream", "urn:not:streams", {}, {"stream": "urn:not:streams"})
    (unprefixed,) = StreamParser().feed(b"<stream xmlns='http://etherx.jabber.org/streams'>")
    assert unprefixed == StreamOpen("stream", NS_STREAMS, {}, {"": NS_STREAMS})


@pytest.mark.parametrize(
    "declaration",
    [
        b"<?xml version='1.0'?>",
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b"<?xml version='1.0' encoding='utf-8'?>\n",
        b"\xef\xbb\xbf",  # a UTF-8 byte order mark
    ],
)
def test_utf8_declarations_are_accepted(declaration: bytes) -> None:
    assert StreamParser().feed(declaration + HEADER) == [OPEN]


@pytest.mark.parametrize("encoding", [b"ISO-8859-1", b"UTF-16", b"US-ASCII", b"windows-1252"])
def test_other_encodings_are_refused(encoding: bytes) -> None:
    # RFC 6120 section 11.6: UTF-8 only; section 4.9.3.22 names the condition.
    declaration = b"<?xml version='1.0' encoding='" + encoding + b"'?>"
    assert refusal([declaration + HEADER]) == "unsupported-encoding"


def test_footer_gives_stream_close_and_nothing_may_follow() -> None:
    parser = StreamParser()
    assert parser.feed(HEADER + b"<presence/></stream:stream>") == [
        OPEN,
        Element("presence", NS_CLIENT),
        StreamClose(),
    ]
    assert parser.depth == 0
    with pytest.raises(StreamError) as info:
        parser.feed(b"<presence/>")
    assert info.value.condition == "not-well-formed"


def test_reset_starts_a_new_document() -> None:
    """A stream restart (RFC 6120 sections 5.4.3.3 and 6.4.6): a new header is expected, partial input is gone."""
    parser = StreamParser()
    parser.feed(HEADER + b"<message><body>half")
    parser.reset()
    assert parser.depth == 0
    assert parser.feed(b"<?xml version='1.0'?>" + HEADER + b"<presence/>") == [
        OPEN,
        Element("presence", NS_CLIENT),
    ]


def test_a_broken_parser_refuses_more_input_until_reset() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(StreamError):
        parser.feed(b"<a></b>")
    assert parser.broken
    with pytest.raises(StreamError) as info:
        parser.feed(b"<presence/>")
    assert info.value.condition == "not-well-formed"
    parser.reset()
    assert not parser.broken
    assert parser.feed(HEADER + b"<presence/>") == [OPEN, Element("presence", NS_CLIENT)]


# -- elements, text and namespaces ------------------------------------------------------------------------------


def test_top_level_elements_are_returned_when_complete() -> None:
    parser = StreamParser()
    assert parser.feed(HEADER) == [OPEN]
    assert parser.feed(b"<message to='a@b' type='chat'><body>hi") == []
    assert parser.depth == 3
    assert parser.feed(b"</body></message> <presence/>") == [
        Element("message", NS_CLIENT, {"to": "a@b", "type": "chat"}, [Element("body", NS_CLIENT, text="hi")]),
        Element("presence", NS_CLIENT),
    ]
    assert parser.depth == 1


def test_mixed_content_keeps_document_order() -> None:
    (_, element) = feed_all([HEADER + b"<body>a<b/>c<d>e</d>f</body>"])
    assert isinstance(element, Element)
    assert element.children == ["a", Element("b", NS_CLIENT), "c", Element("d", NS_CLIENT, text="e"), "f"]


def test_references_cdata_and_line_ends_are_decoded() -> None:
    data = (
        b"<body a='&lt;&amp;&gt;&quot;&apos;&#x1F600;&#10;'>&lt;&amp;&gt;&quot;&apos;&#233;&#x1f600;"
        b"<![CDATA[<not-a-tag & x>]]>a\r\nb\rc</body>"
    )
    (_, element) = feed_all([HEADER + data])
    assert element == Element(
        "body",
        NS_CLIENT,
        {"a": "<&>\"'\U0001f600\n"},
        # XML 1.0 section 2.11: a CR LF pair and a lone CR both reach the application as LF.
        text="<&>\"'\u00e9\U0001f600<not-a-tag & x>a\nb\nc",
    )


def test_white_space_between_stanzas_is_no_event() -> None:
    assert feed_all([HEADER, b" \n\t ", b"\r\n", b"<presence/>", b"   "]) == [
        OPEN,
        Element("presence", NS_CLIENT),
    ]


def test_text_between_stanzas_is_not_well_formed() -> None:
    assert refusal([HEADER + b"hello<presence/>"]) == "not-well-formed"


def test_default_and_prefixed_namespaces() -> None:
    data = (
        b"<iq type='get' id='1'>"
        b"<query xmlns='jabber:iq:roster' ver=''><item jid='a@b'/></query>"
        b"<p:x xmlns:p='urn:p' p:attr='1' plain='2' xml:lang='fr'><inner/><p:also/></p:x>"
        b"<stream:features/>"
        b"<none xmlns=''><child/></none>"
        b"</iq>"
    )
    (_, iq) = feed_all([HEADER + data])
    assert iq == Element(
        "iq",
        NS_CLIENT,
        {"type": "get", "id": "1"},
        [
            # A default namespace declaration applies to the element and is inherited by its children.
            Element(
                "query",
                "jabber:iq:roster",
                {"ver": ""},
                [Element("item", "jabber:iq:roster", {"jid": "a@b"})],
            ),
            # A prefix names the namespace of the elements and attributes that carry it; unprefixed children still
            # inherit the default namespace, and unprefixed attributes are in no namespace.
            Element(
                "x",
                "urn:p",
                {"{urn:p}attr": "1", "plain": "2", "{" + NS_XML + "}lang": "fr"},
                [Element("inner", NS_CLIENT), Element("also", "urn:p")],
            ),
            # Prefixes declared on the stream header hold inside stanzas.
            Element("features", NS_STREAMS),
            # xmlns='' undeclares the default namespace.
            Element("none", "", None, [Element("child", "")]),
        ],
    )


@pytest.mark.parametrize(
    "data",
    [
        b"<p:x/>",  # an unbound prefix
        b"<x p:a='1'/>",
        b"<x xmlns:p=''/>",  # a prefix cannot be undeclared in XML namespaces 1.0
        b"<x xmlns:xml='urn:x'/>",  # the xml prefix is bound for good
        b"<x xmlns='http://www.w3.org/XML/1998/namespace'/>",
        b"<x xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' q:a='2'/>",  # the same attribute twice
    ],
)
def test_namespace_errors_are_not_well_formed(data: bytes) -> None:
    # RFC 6120 section 11.2: namespace well-formedness is required as well (4.9.3.13 names not-well-formed).
    assert refusal([HEADER + data]) == "not-well-formed"


# -- any chunking yields the same events ------------------------------------------------------------------------

# One multi-byte character of each UTF-8 length, plus markup that holds '>' and quotes in odd places.
PIECES = [
    b"<?xml version='1.0'?>",
    HEADER.replace(b"to='example.com'", "to='\u00e9x\u00e0mple.com' xml:lang='\u65e5'".encode()),
    b"\n",
    "<message to='\u00e9@\u4e2d.example' id='a&gt;b'><body>a\u00e9\u4e2d\U0001f600z</body></message>".encode(),
    b" \t",
    b"<presence/>",
    "<iq type='get' id='\"q\"'><q xmlns='urn:\u00e9'><r a='&apos;&#x10000;'/></q></iq>".encode(),
    "<message><body><![CDATA[\U0001f600]]>&amp;&#233;\u00df</body></message>".encode(),
    b"</stream:stream>",
]
STREAM = b"".join(PIECES)


def test_the_sample_stream_parses() -> None:
    events = feed_all([STREAM])
    assert [type(e).__name__ for e in events] == ["StreamOpen", *["Element"] * 4, "StreamClose"]
    assert isinstance(events[0], StreamOpen) and events[0].attrs["to"] == "\u00e9x\u00e0mple.com"
    assert isinstance(events[1], Element) and events[1].child_text("body") == "a\u00e9\u4e2d\U0001f600z"


def test_every_single_cut_yields_the_same_events() -> None:
    expected = feed_all([STREAM])
    for cut in range(len(STREAM) + 1):
        assert feed_all(split(STREAM, [cut])) == expected, cut


def test_each_event_comes_with_its_last_byte() -> None:
    """Fed one byte at a time, each event is returned by the feed of the byte that completes it, not later."""
    parser = StreamParser()
    ends_at: list[int] = []
    for index, chunk in enumerate(one_by_one(STREAM)):
        ends_at += [index] * len(parser.feed(chunk))
    offsets = [sum(len(p) for p in PIECES[: i + 1]) - 1 for i in range(len(PIECES))]
    # The header piece, the four stanzas and the footer; the white space and the declaration make no event.
    assert ends_at == [offsets[1], offsets[3], offsets[5], offsets[6], offsets[7], offsets[8]]


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_chunking_yields_the_same_events(cuts: list[int]) -> None:
    assert feed_all(split(STREAM, cuts)) == feed_all([STREAM])


XML_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0xD7FF),
        st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
        st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
        st.sampled_from("\t\n&<>'\""),
    ),
    max_size=30,
)


@given(texts=st.lists(XML_TEXT, min_size=1, max_size=5), data=st.data())
def test_any_chunking_of_generated_stanzas_yields_the_same_events(
    texts: list[str], data: st.DataObject
) -> None:
    """Stanzas with arbitrary (escaped) text, cut anywhere, including inside multi-byte UTF-8 sequences."""

    def escaped(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;")

    def escaped_attr(text: str) -> str:
        # XML 1.0 section 3.3.3: literal tabs and line feeds in attribute values are normalised to spaces.
        return escaped(text).replace("'", "&apos;").replace("\t", "&#9;").replace("\n", "&#10;")

    stream = HEADER + "".join(
        f"<message id='{escaped_attr(text)}'><body>{escaped(text)}</body></message>" for text in texts
    ).encode("utf-8")
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=20))
    events = feed_all(split(stream, cuts))
    assert events == [
        OPEN,
        *(Element("message", NS_CLIENT, {"id": t}, [Element("body", NS_CLIENT, text=t)]) for t in texts),
    ]


# -- the bytes of each stanza (keep_source) --------------------------------------------------------------------


def test_sources_are_off_by_default() -> None:
    (_, element) = feed_all([HEADER + b"<message><body>hi</body></message>"])
    assert isinstance(element, Element) and element.source is None


def test_each_top_level_element_keeps_the_bytes_it_came_in() -> None:
    pieces = [
        b"<message to='a@b' id='x&gt;y' note='1 > 0'><body>hi &amp; <![CDATA[<b>]]></body></message >",
        "<presence><status>\u00e9\u4e2d\U0001f600</status></presence>".encode(),
        b"<iq type='get' id='q' note=\"/>\"/>",
        b"<message\n\tto='c@d'\n/>",
    ]
    parser = StreamParser()
    parser.keep_source = True
    events = parser.feed(HEADER + b" ".join(pieces) + b"\n")
    assert [e.source for e in events if isinstance(e, Element)] == pieces
    # Children never have one.
    message = events[1]
    assert isinstance(message, Element) and all(child.source is None for child in message.elements())


def test_an_element_that_spans_chunks_has_no_source() -> None:
    parser = StreamParser()
    parser.keep_source = True
    parser.feed(HEADER)
    assert parser.feed(b"<message><body>h") == []
    (split_one, whole) = parser.feed(b"i</body></message><message><body>yo</body></message>")
    assert isinstance(split_one, Element) and split_one.source is None
    assert isinstance(whole, Element) and whole.source == b"<message><body>yo</body></message>"


@given(data=st.data())
def test_a_source_parses_back_to_its_element(data: st.DataObject) -> None:
    """Whatever the chunking, a kept source is exactly the element's bytes: parsed alone, it is the same element."""
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=4))
    parser = StreamParser()
    parser.keep_source = True
    elements = [e for e in feed_all(split(STREAM, cuts), parser) if isinstance(e, Element)]
    assert len(elements) == 4
    for element in elements:
        if element.source is not None:
            (_, reparsed, _) = feed_all([HEADER + element.source + b"</stream:stream>"])
            assert reparsed == element


# -- RFC 6120 section 11.1: restricted XML ----------------------------------------------------------------------

BILLION_LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>" % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
    + HEADER
    + b"<message><body>&lol9;</body></message>"
)

RESTRICTED = {
    "comment-before-header": b"<!-- hi -->" + HEADER,
    "comment-between-stanzas": HEADER + b"<!-- hi -->",
    "comment-in-stanza": HEADER + b"<message><!-- hi --></message>",
    "pi-before-header": b"<?xml-stylesheet href='x'?>" + HEADER,
    "pi-between-stanzas": HEADER + b"<?evil instruction?>",
    "pi-in-stanza": HEADER + b"<message><?evil?></message>",
    "xml-declaration-mid-stream": HEADER + b"<?xml version='1.0'?>",
    "external-dtd": b"<?xml version='1.0'?><!DOCTYPE stream:stream SYSTEM 'x.dtd'>" + HEADER,
    "empty-internal-dtd": b"<!DOCTYPE stream:stream []>" + HEADER,
    "internal-entity": b"<!DOCTYPE s [<!ENTITY e 'x'>]>" + HEADER + b"<message><body>&e;</body></message>",
    "external-entity": b"<!DOCTYPE s [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>" + HEADER + b"<a>&e;</a>",
    "parameter-entity": b"<!DOCTYPE s [<!ENTITY % p SYSTEM 'http://x/'> %p;]>" + HEADER,
    "billion-laughs": BILLION_LAUGHS,
    "undefined-entity-in-text": HEADER + b"<message><body>&ouch;</body></message>",
    "undefined-entity-in-attribute": HEADER + b"<message id='&ouch;'/>",
    "html-entity": HEADER + b"<message><body>&nbsp;</body></message>",
}


@pytest.mark.parametrize("data", list(RESTRICTED.values()), ids=list(RESTRICTED))
def test_restricted_xml_is_refused(data: bytes) -> None:
    """RFC 6120 section 11.1: comments, processing instructions, DTD subsets and entity references other than the
    predefined ones are refused, with restricted-xml (section 4.9.3.18), however the bytes are cut."""
    assert refusal([data]) == "restricted-xml"
    assert refusal(one_by_one(data)) == "restricted-xml"
    for cut in range(1, len(data), 7):
        assert refusal(split(data, [cut])) == "restricted-xml", cut


def test_predefined_entities_and_character_references_are_allowed() -> None:
    (_, element) = feed_all([HEADER + b"<body>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;</body>"])
    assert isinstance(element, Element) and element.text == "&<>\"'AB"


NOT_WELL_FORMED = {
    "mismatched-end-tag": HEADER + b"<message><body>x</message>",
    "end-tag-without-start": HEADER + b"</message>",
    "duplicate-attribute": HEADER + b"<message id='1' id='2'/>",
    "unquoted-attribute": HEADER + b"<message id=1/>",
    "bad-name": HEADER + b"<1message/>",
    "lone-ampersand": HEADER + b"<body>a & b</body>",
    "lt-in-attribute": HEADER + b"<body a='<'/>",
    "invalid-utf8": HEADER + b"<message><body>\xff\xfe</body></message>",
    "overlong-utf8": HEADER + b"<body>\xc0\xaf</body>",
    "utf8-surrogate": HEADER + b"<body>\xed\xa0\x80</body>",
    "control-character": HEADER + b"<body>\x01</body>",
    "nul-character-reference": HEADER + b"<body>&#0;</body>",
    "control-character-reference": HEADER + b"<body>&#x8;</body>",
    "surrogate-character-reference": HEADER + b"<body>&#xD800;</body>",
    "ampersand-without-name": HEADER + b"<body>&;</body>",
    "markup-declaration-in-content": HEADER + b"<!DOCTYPE x>",
    "element-after-footer": HEADER + b"</stream:stream><presence/>",
    "header-then-garbage": b"garbage" + HEADER,
}


@pytest.mark.parametrize("data", list(NOT_WELL_FORMED.values()), ids=list(NOT_WELL_FORMED))
def test_ill_formed_input_is_not_well_formed(data: bytes) -> None:
    """RFC 6120 section 11.2 and 4.9.3.13, however the bytes are cut."""
    assert refusal([data]) == "not-well-formed"
    assert refusal(one_by_one(data)) == "not-well-formed"


def test_an_error_anywhere_in_a_chunk_fails_the_whole_chunk() -> None:
    # The stanza before the comment is not returned: the stream is closed with the error instead.
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(StreamError) as info:
        parser.feed(b"<presence/><!-- x -->")
    assert info.value.condition == "restricted-xml"


# -- resource limits: policy-violation ---------------------------------------------------------------------------


def test_default_limits() -> None:
    assert DEFAULT_MAX_STANZA_SIZE == 256 * 1024
    assert (DEFAULT_MAX_DEPTH, DEFAULT_MAX_ATTRIBUTES) == (48, 64)


def nested(levels: int) -> bytes:
    return b"<a>" * levels + b"</a>" * levels


def test_nesting_depth_limit() -> None:
    # The limit counts every open element, the stream element included.
    assert refusal([HEADER + nested(4)], max_depth=5) is None
    assert refusal([HEADER + nested(5)], max_depth=5) == "policy-violation"
    assert refusal([HEADER + nested(DEFAULT_MAX_DEPTH - 1)]) is None
    assert refusal([HEADER + nested(DEFAULT_MAX_DEPTH)]) == "policy-violation"
    # Refused as soon as the start tag that is too deep arrives, before any end tag.
    assert refusal([HEADER, b"<a>" * 200]) == "policy-violation"


def attributes(count: int) -> bytes:
    return b"<presence " + b" ".join(b"a%d='x'" % i for i in range(count)) + b"/>"


def test_attribute_count_limit() -> None:
    assert refusal([HEADER + attributes(3)], max_attributes=3) is None
    assert refusal([HEADER + attributes(4)], max_attributes=3) == "policy-violation"
    assert refusal([HEADER + attributes(DEFAULT_MAX_ATTRIBUTES)]) is None
    assert refusal([HEADER + attributes(DEFAULT_MAX_ATTRIBUTES + 1)]) == "policy-violation"
    # The header is an element too.
    assert (
        refusal([HEADER.replace(b"version=", b"a='1' b='2' version=")], max_attributes=3)
        == "policy-violation"
    )


LIMIT = 1024


def stanza(size: int) -> bytes:
    """A stanza whose size, counted from its first byte up to its end tag (excluded), is ``size``."""
    head, tail = b"<message><body>", b"</body>"
    return head + b"x" * (size - len(head) - len(tail)) + tail + b"</message>"


def test_stanza_size_counts_up_to_the_end_tag() -> None:
    assert refusal([HEADER + stanza(LIMIT) + b"<presence/>"], max_stanza_size=LIMIT) is None
    assert refusal([HEADER + stanza(LIMIT + 1) + b"<presence/>"], max_stanza_size=LIMIT) == "policy-violation"


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(HEADER) + 2 * LIMIT), max_size=12))
def test_stanza_size_limit_does_not_depend_on_chunking(cuts: list[int]) -> None:
    """What fits is accepted and what does not is refused, whatever the chunks; a margin of one end tag aside.

    (While the end tag is arriving, its bytes count: a cut inside it may refuse a stanza up to one end tag shorter.)
    """
    small = HEADER + stanza(LIMIT - len(b"</message>")) + b" <presence/>" + stanza(LIMIT // 2)
    big = HEADER + b"<presence/>" + stanza(LIMIT + 1) + b"<presence/>"
    assert refusal(split(small, [c for c in cuts if c <= len(small)]), max_stanza_size=LIMIT) is None
    assert (
        refusal(split(big, [c for c in cuts if c <= len(big)]), max_stanza_size=LIMIT) == "policy-violation"
    )


def refused_after(chunks: list[bytes], **limits: int) -> int | None:
    """How many bytes had been fed when the parser refused the input (None: never)."""
    parser = StreamParser(**limits)
    fed = 0
    try:
        for chunk in chunks:
            fed += len(chunk)
            parser.feed(chunk)
    except StreamError as error:
        assert error.condition == "policy-violation"
        return fed
    return None


def endless(start: bytes, filler: bytes, chunk: int, total: int) -> list[bytes]:
    return [HEADER, start] + [filler * chunk] * (total // chunk)


def test_an_oversized_stanza_is_refused_while_it_arrives() -> None:
    """Its end tag never comes: the parser must refuse it once it crosses the limit, not buffer on."""
    fed = refused_after(endless(b"<message><body>", b"x", 100, 100 * LIMIT), max_stanza_size=LIMIT)
    assert fed is not None and len(HEADER) + LIMIT < fed <= len(HEADER) + LIMIT + 100
    # Nested deeper, with children that complete, it is the whole top-level element that counts.
    fed = refused_after(endless(b"<message>", b"<b>yy</b>", 10, 100 * LIMIT), max_stanza_size=LIMIT)
    assert fed is not None and fed <= len(HEADER) + LIMIT + 90


def test_an_oversized_start_tag_or_header_is_refused_while_it_arrives() -> None:
    fed = refused_after(endless(b"<message to='", b"x", 100, 100 * LIMIT), max_stanza_size=LIMIT)
    assert fed is not None and fed <= len(HEADER) + LIMIT + 100
    fed = refused_after(endless(b"<message", b" ", 100, 100 * LIMIT), max_stanza_size=LIMIT)
    assert fed is not None and fed <= len(HEADER) + LIMIT + 100
    parser = StreamParser(max_stanza_size=LIMIT)
    with pytest.raises(StreamError) as info:
        parser.feed(b"<stream:stream to='")
        for _ in range(100):
            parser.feed(b"x" * 100)
    assert info.value.condition == "policy-violation"


def test_the_default_limit_is_enforced_while_the_stanza_arrives() -> None:
    """The failing integration case: the first chunk holds the header and the start of the big stanza."""
    chunks = [HEADER + b"<message><body>" + b"x" * 60000] + [b"x" * 4096] * 100
    fed = refused_after(chunks)
    assert fed is not None and fed <= len(HEADER) + DEFAULT_MAX_STANZA_SIZE + 4096 + len(b"<message><body>")
    assert (
        refusal([HEADER + b"<message><body>" + b"x" * 300_000 + b"</body></message>"]) == "policy-violation"
    )


def test_a_huge_chunk_is_parsed_in_slices() -> None:
    # One stanza larger than the limit, in one chunk far larger than the limit: refused.
    assert refusal([HEADER + stanza(50 * LIMIT)], max_stanza_size=LIMIT) == "policy-violation"
    # Many small stanzas in one such chunk (cut by the slicing anywhere, inside UTF-8 too): all returned.
    body = "\u00e9\U0001f600" * 20
    many = ("<message><body>" + body + "</body></message>").encode() * 200
    events = feed_all([HEADER + many], StreamParser(max_stanza_size=LIMIT))
    assert len(events) == 201 and events[-1] == Element(
        "message", NS_CLIENT, None, [Element("body", NS_CLIENT, text=body)]
    )


def test_traffic_between_stanzas_does_not_count() -> None:
    """White space keepalives and many small stanzas add up to far more than the limit, and are fine."""
    assert (
        refusal([HEADER] + [b" " * 100] * (10 * LIMIT // 100) + [b"<presence/>"], max_stanza_size=LIMIT)
        is None
    )
    assert refusal([HEADER] + [b"\n"] * (3 * LIMIT), max_stanza_size=LIMIT) is None
    assert refusal([HEADER] + [stanza(LIMIT // 2)] * 100, max_stanza_size=LIMIT) is None
    assert refusal([HEADER + b"<presence/>  " * LIMIT], max_stanza_size=LIMIT) is None


@settings(max_examples=50)
@given(cut=st.integers(min_value=1, max_value=20))
def test_limits_are_refused_the_same_however_cut(cut: int) -> None:
    for data, limits in [
        (HEADER + nested(10), {"max_depth": 5}),
        (HEADER + attributes(10), {"max_attributes": 5}),
    ]:
        assert refusal(split(data, [cut, len(HEADER) + cut]), **limits) == "policy-violation"


# -- hibernation: an idle stream without its expat parser ------------------------------------------------------


@given(data=st.data())
def test_hibernating_between_any_chunks_changes_no_event(data: st.DataObject) -> None:
    """Hibernating wherever it is allowed, however the stream is cut, yields the events of a plain parse."""
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
    parser = StreamParser()
    events: list[ParseEvent] = []
    for chunk in split(STREAM, cuts):
        events += parser.feed(chunk)
        parser.hibernate()
    assert events == feed_all([STREAM])


def test_hibernate_frees_the_parser_only_between_stanzas() -> None:
    parser = StreamParser()
    assert parser.hibernate()  # nothing fed: nothing to free
    parser.feed(HEADER[:20])
    assert not parser.hibernate()  # inside the header
    parser.feed(HEADER[20:] + b"<message><body>h")
    assert not parser.hibernate()  # inside a stanza
    parser.feed(b"i</body></message> <pres")
    assert not parser.hibernate()  # inside a start tag
    assert parser.feed(b"ence/>\n") == [Element("presence", NS_CLIENT)]
    assert parser.hibernate()
    assert parser.hibernate()  # already
    assert parser.depth == 1
    assert parser.feed(b"<message><body>again</body></message></stream:stream>") == [
        Element("message", NS_CLIENT, None, [Element("body", NS_CLIENT, text="again")]),
        StreamClose(),
    ]


def test_after_hibernation_the_header_declarations_still_apply() -> None:
    header = (
        b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' "
        b"xmlns:x='urn:x&amp;&apos;y' xmlns:t='urn:&#9;tab'>"
    )
    parser = StreamParser()
    parser.feed(header)
    assert parser.hibernate()
    assert parser.feed(b"<x:a t:b='1'/><c/></s:stream>") == [
        Element("a", "urn:x&'y", {"{urn:\ttab}b": "1"}),
        Element("c", NS_CLIENT),
        StreamClose(),
    ]


def test_after_hibernation_a_wrong_footer_and_the_limits_are_still_refused() -> None:
    parser = StreamParser(max_stanza_size=LIMIT)
    parser.feed(HEADER)
    assert parser.hibernate()
    with pytest.raises(StreamError) as error:
        parser.feed(b"</stream>")
    assert error.value.condition == "not-well-formed"
    parser = StreamParser(max_stanza_size=LIMIT)
    parser.feed(HEADER)
    assert parser.hibernate()
    with pytest.raises(StreamError) as error:
        parser.feed(stanza(2 * LIMIT))
    assert error.value.condition == "policy-violation"
    parser = StreamParser()
    parser.feed(HEADER)
    assert parser.hibernate()
    with pytest.raises(StreamError) as error:
        parser.feed(b"<!-- no -->")
    assert error.value.condition == "restricted-xml"


def test_a_broken_or_reset_parser_does_not_replay_a_header() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(StreamError):
        parser.feed(b"<a></b>")
    assert not parser.hibernate()
    parser.reset()
    assert parser.hibernate()
    # A restarted stream needs its own header again (RFC 6120 section 4.3.3).
    assert parser.feed(HEADER) == [OPEN]


def test_the_sources_of_stanzas_after_hibernation() -> None:
    parser = StreamParser()
    parser.keep_source = True
    parser.feed(HEADER)
    assert parser.hibernate()
    (message,) = parser.feed(b"<message><body>hi</body></message>")
    assert isinstance(message, Element) and message.source == b"<message><body>hi</body></message>"
