"""A minimal scanner that cuts an XMPP stream into its top-level elements, and the message token.

The generator must never be the bottleneck, so received bytes are not parsed as XML: the scanner finds the
stream header, then for each top-level element its start tag (one regular expression match) and its end tag
(one bytes.find of ``</qname>``, whatever the prefix), and hands out the raw bytes of the element with its local
name. Only when an element contains a nested element of its own name (which XMPP stanzas do not, outside
forwarding extensions) does it fall back to counting the depth tag by tag. The helpers at the end read what
negotiation needs (child names, texts, error conditions) from the raw bytes of an element.

Assumptions, true of XMPP servers: no ``>`` inside attribute values of start tags (servers escape it), no
CDATA sections or comments at the top level.

The message token embeds a sender number, a sequence number and a send time (time.perf_counter_ns) in the
body text, at fixed widths, so the receiver finds it with one bytes.find whatever the quoting, attribute order
and namespace prefixes of the server's serialization.
"""

from __future__ import annotations

import re
from typing import Final

#: Pseudo local names: the stream header, and the end of the stream (its end tag, or a bare top-level end tag).
HEADER: Final = b"<header>"
END: Final = b"</end>"

_START_TAG: Final = re.compile(rb"<([^\s/>!?]+)[^>]*>")
_NAME_END: Final = frozenset(b" \t\r\n/>")


class ScanError(Exception):
    """The bytes are not a well-formed XMPP stream (as far as this scanner can tell)."""


class StanzaScanner:
    """Feed bytes, get the complete top-level elements as (local name, raw bytes), in order."""

    __slots__ = ("_buf", "_names", "header", "header_qname")

    def __init__(self) -> None:
        self._buf = b""
        self.header: bytes | None = None
        self.header_qname = b""
        # qname -> (local name, end tag, start of the start tag)
        self._names: dict[bytes, tuple[bytes, bytes, bytes]] = {}

    def restart(self) -> None:
        """A new stream begins (after STARTTLS or SASL): expect a new header, forget the buffered bytes."""
        self._buf = b""
        self.header = None
        self.header_qname = b""

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _name(self, qname: bytes) -> tuple[bytes, bytes, bytes]:
        info = self._names.get(qname)
        if info is None:
            info = (qname.rpartition(b":")[2], b"</" + qname + b">", b"<" + qname)
            self._names[qname] = info
        return info

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        buf = self._buf + data if self._buf else data
        n = len(buf)
        out: list[tuple[bytes, bytes]] = []
        pos = 0
        match = _START_TAG.match
        while True:
            lt = buf.find(b"<", pos)
            if lt < 0 or lt + 1 >= n:
                pos = n if lt < 0 else lt
                break
            c = buf[lt + 1]
            if c == 0x2F:  # '/': an end tag at the top level ends the stream
                gt = buf.find(b">", lt)
                if gt < 0:
                    pos = lt
                    break
                out.append((END, buf[lt : gt + 1]))
                pos = gt + 1
                continue
            if c in (0x3F, 0x21):  # '?' or '!': the XML declaration (or a comment) before the header
                close = b"-->" if buf.startswith(b"<!--", lt) else b">"
                gt = buf.find(close, lt + 2)
                if gt < 0:
                    pos = lt
                    break
                pos = gt + len(close)
                continue
            m = match(buf, lt)
            if m is None:
                if buf.find(b">", lt) >= 0:
                    raise ScanError(f"malformed start tag: {buf[lt : lt + 60]!r}")
                pos = lt
                break
            tag_end = m.end()
            qname = m.group(1)
            local, end_tag, open_tag = self._name(qname)
            if buf[tag_end - 2] == 0x2F:  # '/>': an empty element
                out.append((local, buf[lt:tag_end]))
                pos = tag_end
                continue
            if self.header is None:
                self.header = buf[lt:tag_end]
                self.header_qname = qname
                out.append((HEADER, self.header))
                pos = tag_end
                continue
            end = buf.find(end_tag, tag_end)
            if end < 0:
                pos = lt
                break
            end += len(end_tag)
            inner = buf.find(open_tag, tag_end, end)
            if inner >= 0 and buf[inner + len(open_tag)] in _NAME_END:
                end = _element_end(buf, tag_end)
                if end < 0:
                    pos = lt
                    break
            out.append((local, buf[lt:end]))
            pos = end
        self._buf = buf[pos:] if pos < n else b""
        return out


def _element_end(buf: bytes, pos: int) -> int:
    """The end of the element whose start tag ends at pos, counting depth tag by tag; -1 if incomplete."""
    depth = 1
    match = _START_TAG.match
    while depth:
        lt = buf.find(b"<", pos)
        if lt < 0 or lt + 1 >= len(buf):
            return -1
        c = buf[lt + 1]
        if c == 0x2F:
            gt = buf.find(b">", lt)
            if gt < 0:
                return -1
            depth -= 1
            pos = gt + 1
        elif c in (0x21, 0x3F):
            if buf.startswith(b"<![CDATA[", lt):
                close = b"]]>"
            elif buf.startswith(b"<!--", lt):
                close = b"-->"
            else:
                close = b">"
            gt = buf.find(close, lt + 2)
            if gt < 0:
                return -1
            pos = gt + len(close)
        else:
            m = match(buf, lt)
            if m is None:
                if buf.find(b">", lt) >= 0:
                    raise ScanError(f"malformed start tag: {buf[lt : lt + 60]!r}")
                return -1
            pos = m.end()
            if buf[pos - 2] != 0x2F:
                depth += 1
    return pos


_ATTR_CACHE: dict[bytes, re.Pattern[bytes]] = {}


def attribute(raw: bytes, name: bytes) -> bytes | None:
    """The raw value of an attribute of the element's start tag (either quoting; entities not expanded)."""
    pattern = _ATTR_CACHE.get(name)
    if pattern is None:
        pattern = re.compile(rb"\s" + re.escape(name) + rb"\s*=\s*(?:'([^']*)'|\"([^\"]*)\")")
        _ATTR_CACHE[name] = pattern
    gt = raw.find(b">")
    m = pattern.search(raw, 0, gt if gt >= 0 else len(raw))
    if m is None:
        return None
    value = m.group(1)
    return value if value is not None else m.group(2)


def is_error(raw: bytes) -> bool:
    """Whether the stanza's start tag has type='error' (either quoting)."""
    gt = raw.find(b">")
    return raw.find(b"'error'", 0, gt) >= 0 or raw.find(b'"error"', 0, gt) >= 0


# -- the message token -----------------------------------------------------------------------------------------

TOKEN_MARK: Final = b"~LG"
#: ~LG<sender:6>.<seq:10>.<perf_counter_ns:19>~
TOKEN_LEN: Final = 3 + 6 + 1 + 10 + 1 + 19 + 1
TOKEN_FORMAT: Final = b"~LG%06d.%010d.%019d~"


def make_token(sender: int, seq: int, t_ns: int) -> bytes:
    return TOKEN_FORMAT % (sender, seq, t_ns)


def parse_token(raw: bytes) -> tuple[int, int, int] | None:
    """(sender, seq, send time in ns) of the first token in raw, or None."""
    i = raw.find(TOKEN_MARK)
    if i < 0 or i + TOKEN_LEN > len(raw):
        return None
    try:
        return int(raw[i + 3 : i + 9]), int(raw[i + 10 : i + 20]), int(raw[i + 21 : i + 40])
    except ValueError:
        return None


# -- light extraction for negotiation elements -----------------------------------------------------------------
# Negotiation needs little from each element (which children it has, the text of one of them), and takes a good
# share of a login's work if every element is parsed into a tree; so these work on the raw bytes, ignoring
# namespace prefixes.

_LOCAL_NAMES: Final = re.compile(rb"<(?:[^\s/>!?:]+:)?([^\s/>!?:]+)")
_TEXT_CACHE: dict[bytes, re.Pattern[bytes]] = {}
_ENTITIES: Final = ((b"&lt;", b"<"), (b"&gt;", b">"), (b"&apos;", b"'"), (b"&quot;", b'"'), (b"&amp;", b"&"))


def local_names(raw: bytes) -> list[bytes]:
    """The local names of all start tags (and empty-element tags) in raw, in document order."""
    return _LOCAL_NAMES.findall(raw)


def _unescape(text: bytes) -> bytes:
    if b"&" in text:
        for entity, char in _ENTITIES:
            text = text.replace(entity, char)
    return text


def texts(raw: bytes, local: bytes) -> list[bytes]:
    """The text content of every element with this local name that holds only text (entities expanded)."""
    pattern = _TEXT_CACHE.get(local)
    if pattern is None:
        pattern = re.compile(rb"<(?:[^\s/>!?:]+:)?" + re.escape(local) + rb"(?:\s[^>]*)?(?:/>|>([^<]*)<)")
        _TEXT_CACHE[local] = pattern
    return [_unescape(text) for text in pattern.findall(raw)]


def text(raw: bytes, local: bytes) -> bytes | None:
    """The text of the first element with this local name (b"" when empty), or None if there is none."""
    found = texts(raw, local)
    return found[0] if found else None


def condition(raw: bytes, container: bytes | None = None) -> str:
    """The defined condition of a stream error, SASL failure or stanza error: the first child element of
    `container` (of the top-level element when None) that is not <text/>."""
    names = local_names(raw)
    start = 1
    if container is not None:
        if container not in names[1:]:
            return "no error element"
        start = names.index(container, 1) + 1
    for name in names[start:]:
        if name != b"text":
            return name.decode(errors="replace")
    return "undefined-condition"


def session_required(features: bytes) -> bool:
    """Whether stream features offer RFC 3921 session establishment without <optional/> (old servers)."""
    m = re.search(rb"<(?:[^\s/>!?:]+:)?session(?:\s[^>]*)?(/?)>", features)
    if m is None:
        return False
    if m.group(1):
        return True
    end = features.find(b"session>", m.end())
    return b"optional" not in features[m.end() : end if end >= 0 else len(features)]
