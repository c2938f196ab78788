"""Element -> text, and the stream header and footer.

The serializer can never emit ill-formed XML: text and attribute values are escaped, characters that XML 1.0
does not allow (RFC 6120 section 11.1; XML 1.0 section 2.2) are replaced with U+FFFD, a carriage return is written
as a character reference (a parser would turn a literal one into a line feed, XML 1.0 section 2.11), and names are
checked against the XML Name production before they are written. What cannot be written as namespace-well-formed
XML (Namespaces in XML 1.0 section 3: an attribute named ``xmlns``, an attribute in no namespace written in Clark
notation, a declaration of the reserved namespaces) raises ``ValueError``.

Namespaces: the ``default_ns`` of the context (``jabber:client`` inside a client stream) needs no declaration;
an element in another namespace gets ``xmlns='...'``, and its children inherit it. Namespaces that have a fixed
prefix in ``prefixes`` (the stream namespace: ``stream``) are written with that prefix. Namespaced attributes use
``xml:`` for the XML namespace and a declared ``nsN`` prefix for anything else.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final
from xml.parsers import expat

from xmppd.xml.element import Element
from xmppd.xml.ns import NS_XML

# Namespaces in XML 1.0 section 3: this one is bound to ``xmlns`` and may never be declared; NS_XML only to ``xml``.
NS_XMLNS: Final = "http://www.w3.org/2000/xmlns/"
_RESERVED_NS: Final = frozenset({NS_XML, NS_XMLNS})

# XML 1.0 section 2.2 Char, minus what RFC 6120 section 11.1 forbids anyway.
_INVALID_CHARS: Final = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# XML 1.0 section 2.3 NCName (a Name without colons), kept to the common ranges of the production.
_NCNAME: Final = re.compile(
    r"[A-Za-z_\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d\u2070-\u218f"
    r"\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff]"
    r"[A-Za-z_\-.0-9\u00b7\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u037d\u037f-\u1fff\u200c\u200d\u203f\u2040"
    r"\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff]*\Z"
)


@lru_cache(maxsize=4096)
def _check_name(name: str) -> str:
    # The fifth edition's production first, then expat itself: expat, like most deployed parsers (ours and the
    # peers'), follows the narrower character tables of XML 1.0 fourth edition (no U+F900 or U+10000 in a name).
    # A name it refuses would make the output ill-formed to them.
    if not _NCNAME.match(name) or not _parses_as_name(name):
        raise ValueError(f"not an XML name: {name!r}")
    return name


def _parses_as_name(name: str) -> bool:
    parser = expat.ParserCreate("UTF-8")
    try:
        parser.Parse(("<" + name + "/>").encode("utf-8"), True)
    except expat.ExpatError:
        return False
    return True


@lru_cache(maxsize=4096)
def _check_attr_name(name: str) -> str:
    # An attribute in no namespace named xmlns would be a namespace declaration (Namespaces in XML 1.0 section 3).
    if name == "xmlns":
        raise ValueError("xmlns is not an attribute name")
    return _check_name(name)


def _check_namespace(uri: str) -> str:
    if uri in _RESERVED_NS:
        raise ValueError(f"the namespace {uri!r} cannot be declared")
    return uri


def _clean(text: str) -> str:
    if _INVALID_CHARS.search(text) is None:
        return text
    return _INVALID_CHARS.sub("\ufffd", text)


def escape_text(text: str) -> str:
    """Escape character data (``&``, ``<``, ``>``, carriage return) and replace characters XML does not allow."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return _clean(text)


def escape_attr(value: str) -> str:
    """Escape an attribute value for single quotes (also escapes ``"`` and white space that would be normalised)."""
    value = escape_text(value)
    if "'" in value:
        value = value.replace("'", "&apos;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\n" in value or "\t" in value:
        value = value.replace("\n", "&#10;").replace("\t", "&#9;")
    return value


def serialize(element: Element, default_ns: str | None = None, prefixes: dict[str, str] | None = None) -> str:
    """Serialize ``element`` as it would appear inside a context whose default namespace is ``default_ns``.

    With ``default_ns`` None the element always declares its namespace (a standalone document).
    """
    out: list[str] = []
    _write(element, default_ns, prefixes or {}, out)
    return "".join(out)


def to_bytes(
    element: Element, default_ns: str | None = None, prefixes: dict[str, str] | None = None
) -> bytes:
    """``serialize`` encoded as UTF-8."""
    return serialize(element, default_ns, prefixes).encode("utf-8")


def _write(element: Element, default_ns: str | None, prefixes: dict[str, str], out: list[str]) -> None:
    name = _check_name(element.name)
    ns = element.ns
    prefix = prefixes.get(ns)
    if prefix is not None:
        tag = prefix + ":" + name
        out.append("<" + tag)
        child_default = default_ns
    else:
        tag = name
        out.append("<" + tag)
        if ns != default_ns:
            out.append(" xmlns='" + escape_attr(_check_namespace(ns)) + "'")
        child_default = ns
    if element.attrs:
        extra: dict[str, str] | None = None
        for key, value in element.attrs.items():
            if key and key[0] == "{":
                attr_ns, _, local = key[1:].partition("}")
                if attr_ns == NS_XML:
                    out.append(" xml:" + _check_name(local) + "='" + escape_attr(value) + "'")
                    continue
                if not attr_ns or attr_ns == NS_XMLNS:
                    # A prefix cannot be bound to no namespace or to the xmlns one: an attribute in no namespace
                    # has a plain key, and declarations are never attributes (see xmppd.xml.element).
                    raise ValueError(f"cannot write the attribute {key!r}")
                if extra is None:
                    extra = {}
                attr_prefix = extra.get(attr_ns)
                if attr_prefix is None:
                    attr_prefix = extra[attr_ns] = "ns" + str(len(extra))
                    out.append(" xmlns:" + attr_prefix + "='" + escape_attr(attr_ns) + "'")
                out.append(" " + attr_prefix + ":" + _check_name(local) + "='" + escape_attr(value) + "'")
            else:
                out.append(" " + _check_attr_name(key) + "='" + escape_attr(value) + "'")
    children = element.children
    if not children:
        out.append("/>")
        return
    out.append(">")
    for child in children:
        if isinstance(child, str):
            out.append(escape_text(child))
        else:
            _write(child, child_default, prefixes, out)
    out.append("</" + tag + ">")


def stream_header(
    *,
    content_ns: str,
    to: str | None = None,
    from_: str | None = None,
    stream_id: str | None = None,
    version: str | None = "1.0",
    lang: str | None = "en",
    extra_ns: dict[str, str] | None = None,
) -> bytes:
    """The XML declaration and the opening ``<stream:stream>`` tag (RFC 6120 section 4.7)."""
    parts = ["<?xml version='1.0'?><stream:stream xmlns='", escape_attr(content_ns), "'"]
    parts.append(" xmlns:stream='http://etherx.jabber.org/streams'")
    for prefix, uri in (extra_ns or {}).items():
        if prefix in ("xml", "xmlns") or not uri:
            raise ValueError(f"cannot declare the prefix {prefix!r} for {uri!r}")
        parts.append(" xmlns:" + _check_name(prefix) + "='" + escape_attr(_check_namespace(uri)) + "'")
    for attr, value in (("from", from_), ("to", to), ("id", stream_id), ("version", version)):
        if value is not None:
            parts.append(" " + attr + "='" + escape_attr(value) + "'")
    if lang is not None:
        parts.append(" xml:lang='" + escape_attr(lang) + "'")
    parts.append(">")
    return "".join(parts).encode("utf-8")


STREAM_FOOTER: Final = b"</stream:stream>"
