"""The incremental, hardened XML stream parser.

An XMPP stream is one long XML document: the ``<stream:stream>`` header opens it, each top-level child (a stanza
or a negotiation element) is complete when its end tag arrives, and ``</stream:stream>`` closes it.
``StreamParser.feed(bytes)`` accepts the stream in any chunking (a chunk may end inside a tag or inside a
multi-byte UTF-8 character) and returns what completed in that chunk, in order:

- ``StreamOpen`` once, for the header, with its attributes and the namespaces it declared;
- the top-level elements, as ``Element`` values;
- ``StreamClose`` at the footer.

Hardening, per RFC 6120 section 11.1: XMPP is a restricted subset of XML. A document type declaration, an entity
declaration, a reference to an entity other than the five predefined ones, a processing instruction or a comment is
refused with the ``restricted-xml`` stream error (the condition section 11.1 names); any other well-formedness or
namespace-well-formedness error (section 11.2) with ``not-well-formed``; an XML declaration that names an encoding
other than UTF-8 with ``unsupported-encoding`` (section 11.6). Resource limits give ``policy-violation``: the size of
one top-level element in bytes, the nesting depth, the number of attributes of one element.

The size limit is enforced while parsing, never only once an element is complete: after every chunk, the bytes of the
top-level element still open (from the ``<`` of its start tag to the end of the data received) must not exceed
``max_stanza_size``, and neither may the bytes of unfinished markup between elements (a start tag or a stream header
whose ``>`` never comes). So what the parser buffers for one peer is bounded by the limit plus one chunk, and a chunk
larger than the limit is parsed in slices of the limit. A complete element is measured up to its end tag (excluded);
white space between elements does not count.

With ``keep_source`` on, each top-level element that arrived within one chunk also gets the bytes it was read from
as its ``Element.source`` (see there for what those mean; a stream turns this on only where they mean that).

Parse errors raise ``StreamError``; after one, the parser is broken and must be ``reset()`` before reuse (what
completed earlier in the failing chunk is discarded with it). A stream restart (after STARTTLS or SASL, RFC 6120
sections 5.4.3.3 and 6.4.6) is also a ``reset()``.

Between two top-level elements an idle stream can ``hibernate()``: the expat parser is freed, and the next ``feed``
makes a new one (so does the first ``feed`` after ``reset()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from xml.parsers import expat

from xmppd.errors import StreamError
from xmppd.xml.element import Element

DEFAULT_MAX_STANZA_SIZE: Final = 256 * 1024
DEFAULT_MAX_DEPTH: Final = 48
DEFAULT_MAX_ATTRIBUTES: Final = 64

# Expat reports a namespaced name as "uri local" (or "uri local prefix") with this separator.
_SEP: Final = "\x01"


@dataclass(frozen=True, slots=True)
class StreamOpen:
    """The stream header: its qualified name, attributes (Clark notation for namespaced ones) and declarations."""

    name: str
    ns: str
    attrs: dict[str, str]
    declared: dict[str, str]
    """Namespace declarations on the header: prefix ("" for the default namespace) -> URI."""


@dataclass(frozen=True, slots=True)
class StreamClose:
    """The stream footer ``</stream:stream>`` arrived."""


ParseEvent = StreamOpen | StreamClose | Element


def _attr_key(qname: str) -> str:
    """Expat's "uri<SEP>local" -> "{uri}local" (Clark notation)."""
    uri, sep, local = qname.partition(_SEP)
    if not sep:
        return qname
    return "{" + uri + "}" + local


class StreamParser:
    """Incremental parser for one XML stream; see the module docstring."""

    __slots__ = (
        "_chunk",
        "_declared",
        "_depth",
        "_events",
        "_fed",
        "_mark",
        "_max_attributes",
        "_max_depth",
        "_max_stanza_size",
        "_parser",
        "_resume",
        "_stack",
        "_stanza_start",
        "broken",
        "keep_source",
    )

    def __init__(
        self,
        *,
        max_stanza_size: int = DEFAULT_MAX_STANZA_SIZE,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_attributes: int = DEFAULT_MAX_ATTRIBUTES,
    ) -> None:
        self._max_stanza_size = max_stanza_size
        self._max_depth = max_depth
        self._max_attributes = max_attributes
        self.keep_source = False
        """Whether top-level elements get their bytes as ``Element.source`` (see the module docstring)."""
        self._chunk = b""
        self.reset()

    def reset(self) -> None:
        """Start a new document (a stream restart); anything buffered is discarded."""
        # The expat parser is made when the first bytes of the document arrive (see ``hibernate``).
        self._parser: Any = None
        self._resume = b""
        self._stack: list[Element] = []
        self._events: list[ParseEvent] = []
        self._declared: dict[str, str] = {}
        self._depth = 0
        # Byte offsets into this document: bytes fed so far, where the open top-level element starts, and the end of
        # the last thing that completed between elements (what lies beyond it is unfinished markup).
        self._fed = 0
        self._stanza_start = 0
        self._mark = 0
        self.broken = False

    def hibernate(self) -> bool:
        """Free expat's state between two top-level elements of an idle stream; True when it is freed.

        An expat parser holds tens of KiB per stream (its input and text buffers, its tables of the names seen), and
        between stanzas none of it matters but the namespaces the header declared. So the parser is dropped, and the
        next ``feed`` makes a new one and replays a header with those declarations before the new bytes. Nothing
        changes for the peer: the same bytes give the same events. Returns False, freeing nothing, inside an element
        or a tag, before the header (or when its root's prefix cannot be told), and after an error.
        """
        parser = self._parser
        if parser is None:
            return True
        if self.broken or self._depth != 1 or not self._resume or parser.CurrentByteIndex != self._fed:
            return False
        self._parser = None
        return True

    def _wake(self) -> Any:
        """A new expat parser for this document; after ``hibernate``, past a replayed header."""
        parser = expat.ParserCreate("UTF-8", _SEP)
        # Never read external DTD subsets or parameter entities.
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.ordered_attributes = False
        parser.specified_attributes = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chars
        parser.StartNamespaceDeclHandler = self._namespace
        parser.XmlDeclHandler = self._xml_decl
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.UnparsedEntityDeclHandler = self._refuse
        parser.NotationDeclHandler = self._refuse
        parser.ProcessingInstructionHandler = self._refuse
        parser.CommentHandler = self._refuse
        parser.SkippedEntityHandler = self._undefined_entity
        parser.ExternalEntityRefHandler = self._refuse_external
        # Expat 2.6 defers reparsing an unfinished token until much more data has arrived, which would hold back a
        # stanza completed by a short chunk (libexpat issue 895): XMPP needs every event as soon as its bytes are in.
        # The quadratic reparsing that deferral prevents is bounded here by the size limit on unfinished markup.
        set_deferral = getattr(parser, "SetReparseDeferralEnabled", None)
        if set_deferral is not None:
            set_deferral(False)
        self._parser = parser
        resume = self._resume
        if resume:
            parser.StartElementHandler = self._resumed
            parser.Parse(resume, False)
            parser.StartElementHandler = self._start
            self._declared = {}
            self._fed = self._mark = len(resume)
        return parser

    def _resumed(self, qname: str, attributes: dict[str, str]) -> None:
        # The replayed header: the stream is open again, and the peer has already been told about it.
        self._depth = 1

    @property
    def depth(self) -> int:
        """0 before the header, 1 between top-level elements, more inside one."""
        return self._depth

    def feed(self, data: bytes) -> list[ParseEvent]:
        """Parse the next chunk of the stream; returns what completed in it (see the module docstring).

        Raises ``StreamError`` (restricted-xml, not-well-formed, unsupported-encoding, policy-violation).
        """
        if self.broken:
            raise StreamError("not-well-formed", "parser used after an error")
        limit = self._max_stanza_size
        if len(data) > limit:
            # Slices, so that an oversized element is refused before the whole chunk is parsed into memory.
            events: list[ParseEvent] = []
            for start in range(0, len(data), limit):
                events += self.feed(data[start : start + limit])
            return events
        parser = self._parser
        if parser is None:
            parser = self._wake()
        self._fed += len(data)
        if self.keep_source:
            self._chunk = data
        try:
            parser.Parse(data, False)
        except expat.ExpatError as exc:
            self.broken = True
            code = exc.code
            if code in _RESTRICTED_CODES:
                raise StreamError(
                    "restricted-xml", "entity references and processing instructions are not allowed"
                ) from None
            raise StreamError("not-well-formed", expat.ErrorString(code) if code else None) from None
        except StreamError:
            self.broken = True
            raise
        finally:
            self._chunk = b""
        events = self._events
        self._events = []
        if self._depth > 1:
            if self._fed - self._stanza_start > limit:
                self.broken = True
                raise StreamError("policy-violation", "stanza too large")
        elif self._fed - self._mark > limit:
            # A start tag (or stream header) whose end never comes is buffered by expat: bound it too.
            self.broken = True
            raise StreamError("policy-violation", "unfinished markup too large")
        return events

    # -- expat handlers ---------------------------------------------------------------------------------------

    def _start(self, qname: str, attributes: dict[str, str]) -> None:
        depth = self._depth
        if depth >= self._max_depth:
            raise StreamError("policy-violation", "elements nested too deeply")
        if len(attributes) > self._max_attributes:
            raise StreamError("policy-violation", "too many attributes")
        # Expat's "uri<SEP>local", or just "local" for a name in no namespace (split inline: a call per element costs).
        ns, sep, name = qname.partition(_SEP)
        if not sep:
            ns, name = "", qname
        # Expat builds a new dict per element: kept as it is unless an attribute is namespaced (rare, so one join
        # of the names tells).
        attrs = attributes
        if attributes and _SEP in "".join(attributes):
            attrs = {(_attr_key(k) if _SEP in k else k): v for k, v in attributes.items()}
        self._depth = depth + 1
        if depth == 0:
            self._events.append(StreamOpen(name, ns, attrs, self._declared))
            self._resume = _resume_header(name, ns, self._declared)
            self._declared = {}
            self._mark = self._parser.CurrentByteIndex
            return
        element = Element.adopting(name, ns, attrs)
        if depth == 1:
            # A new top-level element starts at this offset: its size counts from here.
            self._stanza_start = self._parser.CurrentByteIndex
        else:
            self._stack[-1].children.append(element)
        self._stack.append(element)

    def _end(self, qname: str) -> None:
        self._depth -= 1
        depth = self._depth
        if depth == 0:
            self._events.append(StreamClose())
            return
        element = self._stack.pop()
        if depth == 1:
            # The offset of the end tag (of the end of an empty-element tag): the element is complete.
            end = self._parser.CurrentByteIndex
            if end - self._stanza_start > self._max_stanza_size:
                raise StreamError("policy-violation", "stanza too large")
            self._mark = end
            if self.keep_source:
                self._keep_source(element, end)
            self._events.append(element)

    def _keep_source(self, element: Element, end: int) -> None:
        """Give ``element`` its bytes, if they all came in the chunk being parsed."""
        chunk = self._chunk
        base = self._fed - len(chunk)  # the document offset of the chunk's first byte
        start = self._stanza_start - base
        if start < 0:
            return  # it began in an earlier chunk
        end -= base
        if chunk.startswith(b"</", end):
            # Expat reports an end tag at its "<"; it ends at the first ">" (an end tag has no attributes).
            element.source = chunk[start : chunk.index(b">", end) + 1]
        elif chunk.endswith(b"/>", 0, end):
            # An empty-element tag is reported where it ends.
            element.source = chunk[start:end]

    def _chars(self, data: str) -> None:
        # Text directly inside the stream element (between stanzas) is white space keepalive or junk. Inside
        # elements, expat reports a run of text at once (buffer_text), or in pieces where a chunk ends inside it:
        # adjacent pieces are one text (see xmppd.xml.element).
        if self._depth > 1:
            self._stack[-1].children.append(data)
        elif data.isspace():
            # Everything up to here is accounted for (expat reports the offset where this white space ends).
            self._mark = self._parser.CurrentByteIndex
        else:
            raise StreamError("not-well-formed", "text outside of stanzas")

    def _namespace(self, prefix: str | None, uri: str | None) -> None:
        if self._depth == 0:
            self._declared[prefix or ""] = uri or ""

    def _xml_decl(self, version: str | None, encoding: str | None, standalone: int) -> None:
        # RFC 6120 section 11.6: UTF-8 is the only encoding.
        if encoding is not None and encoding.upper().replace("_", "-") not in ("UTF-8", "UTF8"):
            raise StreamError("unsupported-encoding", "XMPP streams are UTF-8")

    def _refuse(self, *args: object) -> None:
        # RFC 6120 section 11.1: no comments, processing instructions, DTDs or entity declarations.
        raise StreamError("restricted-xml", "comments, processing instructions and DTDs are not allowed")

    def _refuse_external(
        self, context: str, base: str | None, system_id: str | None, public_id: str | None
    ) -> int:
        # Never reached while DTDs are refused; never fetch anything if it were.
        raise StreamError("restricted-xml", "external entities are not allowed")

    def _undefined_entity(self, name: str, is_parameter: int) -> None:
        # RFC 6120 section 11.1: entity references other than the predefined ones are restricted XML.
        raise StreamError("restricted-xml", f"entity reference &{name};")


_RESUME_HEADERS: dict[tuple[object, ...], bytes] = {}
"""Replay headers by root name and declarations (every stream of the same kind of client has the same)."""


def _resume_header(local: str, ns: str, declared: dict[str, str]) -> bytes:
    """A start tag with the stream header's name and namespace declarations, to replay after ``hibernate``.

    Its end tag must still match the footer the peer will send, so it needs the header's prefix: the one prefix
    declared for its namespace (empty when none can be told, and then the stream never hibernates).
    """
    key = (local, ns, *declared.items())
    header = _RESUME_HEADERS.get(key)
    if header is not None:
        return header
    prefixes = [prefix for prefix, uri in declared.items() if uri == ns]
    if ns and len(prefixes) != 1:
        return b""
    name = f"{prefixes[0]}:{local}" if ns and prefixes[0] else local
    declarations = "".join(
        f" xmlns:{prefix}='{_escape(uri)}'" if prefix else f" xmlns='{_escape(uri)}'"
        for prefix, uri in declared.items()
    )
    header = f"<{name}{declarations}>".encode()
    if len(_RESUME_HEADERS) < 256:
        _RESUME_HEADERS[key] = header
    return header


def _escape(value: str) -> str:
    # An attribute value that expat reads back as ``value`` (white space as references survives normalization).
    for char, reference in (("&", "&amp;"), ("<", "&lt;"), ("'", "&apos;"), ("\t", "&#9;"), ("\n", "&#10;")):
        value = value.replace(char, reference)
    return value.replace("\r", "&#13;")


# Expat errors that mean the peer used a construct RFC 6120 section 11.1 excludes, rather than broken syntax: an
# XML declaration where only a processing instruction could be, and a reference to an entity that is not one of the
# five predefined ones (with DTDs refused, no other entity can ever be declared).
_RESTRICTED_CODES: Final = frozenset(
    {
        expat.errors.codes[expat.errors.XML_ERROR_MISPLACED_XML_PI],
        expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY],
    }
)
