"""The incremental, hardened XML stream parser.

An XMPP stream is one long XML document: the ``<stream:stream>`` header opens it, each top-level child (a stanza
or a negotiation element) is complete when its end tag arrives, and ``</stream:stream>`` closes it.
``StreamParser.feed(bytes)`` accepts the stream in any chunking (a chunk may end inside a tag or inside a
multi-byte UTF-8 character) and returns what completed in that chunk, in order:

- ``StreamOpen`` once, for the header, with its attributes and the namespaces it declared;
- the top-level elements, as ``Element`` values;
- ``StreamClose`` at the footer.

Hardening, per RFC 6120 section 11.1: XMPP is a restricted subset of XML. A document type declaration, an entity
declaration, a processing instruction or a comment is refused with the ``restricted-xml`` stream error; a reference
to an entity other than the five predefined ones, and any other well-formedness error, with ``not-well-formed``; an
XML declaration that names an encoding other than UTF-8 with ``unsupported-encoding`` (section 11.6). Resource
limits give ``policy-violation``: the size of one top-level element in bytes, the nesting depth, the number of
attributes of one element.

Parse errors raise ``StreamError``; after one, the parser is broken and must be ``reset()`` before reuse. A stream
restart (after STARTTLS or SASL, RFC 6120 sections 5.4.3.3 and 6.4.6) is also a ``reset()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
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


def _split(qname: str) -> tuple[str, str]:
    """Expat's "uri<SEP>local" -> (uri, local); a name with no namespace -> ("", local)."""
    uri, sep, local = qname.partition(_SEP)
    if not sep:
        return "", qname
    return uri, local


def _attr_key(qname: str) -> str:
    uri, sep, local = qname.partition(_SEP)
    if not sep:
        return qname
    return "{" + uri + "}" + local


class StreamParser:
    """Incremental parser for one XML stream; see the module docstring."""

    __slots__ = (
        "_declared",
        "_depth",
        "_events",
        "_max_attributes",
        "_max_depth",
        "_max_stanza_size",
        "_parser",
        "_stack",
        "_stanza_bytes",
        "_text",
        "broken",
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
        self.reset()

    def reset(self) -> None:
        """Start a new document (a stream restart); anything buffered is discarded."""
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
        parser.ExternalEntityRefHandler = self._refuse
        self._parser = parser
        self._stack: list[Element] = []
        self._text: list[str] = []
        self._events: list[ParseEvent] = []
        self._declared: dict[str, str] = {}
        self._depth = 0
        self._stanza_bytes = 0
        self.broken = False

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
        if self._depth > 1 or not data.isspace():
            self._stanza_bytes += len(data)
        if self._stanza_bytes > self._max_stanza_size and self._depth > 1:
            self.broken = True
            raise StreamError("policy-violation", "stanza too large")
        try:
            self._parser.Parse(data, False)
        except expat.ExpatError as exc:
            self.broken = True
            code = exc.code
            if code in _RESTRICTED_CODES:
                raise StreamError(
                    "restricted-xml", "DTDs, entities and processing instructions are not allowed"
                ) from None
            raise StreamError("not-well-formed", expat.ErrorString(code) if code else None) from None
        except StreamError:
            self.broken = True
            raise
        events = self._events
        self._events = []
        if self._depth > 1 and self._stanza_bytes > self._max_stanza_size:
            self.broken = True
            raise StreamError("policy-violation", "stanza too large")
        return events

    # -- expat handlers ---------------------------------------------------------------------------------------

    def _start(self, qname: str, attributes: dict[str, str]) -> None:
        depth = self._depth
        if depth >= self._max_depth:
            raise StreamError("policy-violation", "elements nested too deeply")
        if len(attributes) > self._max_attributes:
            raise StreamError("policy-violation", "too many attributes")
        ns, name = _split(qname)
        if attributes:
            attrs = {(_attr_key(k) if _SEP in k else k): v for k, v in attributes.items()}
        else:
            attrs = {}
        self._depth = depth + 1
        if depth == 0:
            self._events.append(StreamOpen(name, ns, attrs, self._declared))
            self._declared = {}
            self._stanza_bytes = 0
            return
        element = Element(name, ns, attrs)
        if depth == 1:
            # A new top-level element starts: count its bytes from here on.
            self._stanza_bytes = 0
        else:
            self._flush_text()
            self._stack[-1].children.append(element)
        self._stack.append(element)

    def _end(self, qname: str) -> None:
        self._depth -= 1
        depth = self._depth
        if depth == 0:
            self._events.append(StreamClose())
            return
        self._flush_text()
        element = self._stack.pop()
        if depth == 1:
            self._events.append(element)
            self._stanza_bytes = 0

    def _chars(self, data: str) -> None:
        # Text directly inside the stream element (between stanzas) is white space keepalive or junk.
        if self._depth > 1:
            self._text.append(data)
        elif not data.isspace():
            raise StreamError("not-well-formed", "text outside of stanzas")

    def _flush_text(self) -> None:
        if self._text:
            text = "".join(self._text) if len(self._text) > 1 else self._text[0]
            self._text = []
            self._stack[-1].children.append(text)

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

    def _undefined_entity(self, name: str, is_parameter: int) -> None:
        raise StreamError("not-well-formed", f"undefined entity &{name};")


_RESTRICTED_CODES: Final = frozenset(
    {
        expat.errors.codes[expat.errors.XML_ERROR_MISPLACED_XML_PI],
    }
)
