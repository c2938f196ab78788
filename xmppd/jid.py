"""RFC 7622: XMPP addresses (JIDs).

A JID is ``[localpart "@"] domainpart ["/" resourcepart]``. :class:`JID` is the prepared, canonical value: two
JIDs are equal exactly when their prepared parts are, and ``str(jid)`` is the canonical string.

Preparation of each part (RFC 7622 sections 3.2 to 3.4):

- localpart: the PRECIS ``UsernameCaseMapped`` profile (RFC 8265 section 3.3, through ``precis_i18n``), then
  the characters RFC 7622 section 3.3.1 prohibits on top of it: ``" & ' / : < > @``;
- resourcepart: the PRECIS ``OpaqueString`` profile (RFC 8265 section 4.2);
- domainpart: an IP literal (``[IPv6]``) or an IPv4 address as is, otherwise an internationalized domain name
  whose labels are NR-LDH labels or U-labels (RFC 7622 section 3.2.1), after the RFC 5895 section 2 mappings
  that RFC 7622 section 3.2.3 asks for (lowercase, width, NFC). See :func:`prep_domainpart` for how IDNA2008
  is checked without a third-party library.

Every part is at most 1023 octets of UTF-8 once prepared (RFC 7622 section 3.1). ``JID.parse`` keeps an LRU
cache of parsed addresses, because the same few addresses recur in every stanza.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import unicodedata
from typing import Any, Final, final

import precis_i18n

from xmppd.errors import JIDError

__all__ = ["JID", "prep_domainpart", "prep_localpart", "prep_resourcepart"]

#: RFC 7622 section 3.1: each part is at most 1023 octets (of UTF-8) once prepared.
MAX_PART_OCTETS: Final = 1023

# Input longer than this many code points can never prepare to 1023 octets: every prepared code point takes at
# least one octet, and preparation shrinks a string at most by NFC composition, which folds at most four code
# points (the longest canonical decomposition) into one. Twice that bound keeps the check obviously safe, and
# spares the PRECIS code from megabyte strings.
_MAX_INPUT_CODE_POINTS: Final = 8 * MAX_PART_OCTETS

# Only addresses up to this many code points go through the parse cache, which bounds its memory however the
# addresses are chosen: measured on CPython 3.11, 65536 entries take about 30 MB for typical addresses and
# about 90 MB at the worst (128 astral-plane characters each). Longer addresses are rare and simply parsed
# every time.
_CACHE_MAX_CODE_POINTS: Final = 128
_CACHE_SIZE: Final = 65536

_USERNAME_CASE_MAPPED: Final[Any] = precis_i18n.get_profile("UsernameCaseMapped")
_OPAQUE_STRING: Final[Any] = precis_i18n.get_profile("OpaqueString")

# RFC 7622 section 3.3.1: prohibited in a localpart even though UsernameCaseMapped allows them.
_LOCALPART_PROHIBITED: Final = frozenset("\"&'/:<>@")

# Fast paths: ASCII strings that the PRECIS profiles leave unchanged (the tests check that they agree with the
# profiles). For UsernameCaseMapped that is every printable non-space ASCII character except uppercase (which
# is mapped) and, for us, the prohibited ones; for OpaqueString every printable ASCII character and space.
_ASCII_LOCALPART: Final = re.compile(r"[!#-%(-.0-9;=?\[-~]+")
_ASCII_RESOURCEPART: Final = re.compile(r"[ -~]+")

# RFC 5890 section 2.3.1: an LDH label (RFC 1034/1123 host name label): letters, digits and hyphens, not
# starting or ending with a hyphen, 1 to 63 octets. Input is lowercased before this is applied.
_LDH_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LDH_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_MAX_LABEL_OCTETS: Final = 63


def _octets(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _check_length(text: str, part: str) -> None:
    # RFC 7622 section 3.1: "each allowable portion of a JID ... MUST NOT be more than 1023 bytes in length".
    if _octets(text) > MAX_PART_OCTETS:
        raise JIDError(f"{part} is longer than {MAX_PART_OCTETS} octets")


def _check_input(text: str, part: str) -> None:
    if not text:
        raise JIDError(f"{part} is empty")
    if len(text) > _MAX_INPUT_CODE_POINTS:
        raise JIDError(f"{part} is longer than {MAX_PART_OCTETS} octets")


def prep_localpart(text: str) -> str:
    """Prepare and enforce a localpart (RFC 7622 section 3.3): ``UsernameCaseMapped`` plus section 3.3.1.

    Also the preparation of SASL usernames, which name the localpart of the account.

    Raises:
        JIDError: the string is empty, has characters the profile or section 3.3.1 disallows, or is longer
            than 1023 octets once prepared.
    """
    _check_input(text, "localpart")
    if _ASCII_LOCALPART.fullmatch(text):
        prepared = text
    else:
        try:
            prepared = _USERNAME_CASE_MAPPED.enforce(text)
        except UnicodeError as exc:
            raise JIDError(f"localpart not allowed by UsernameCaseMapped: {_precis_reason(exc)}") from None
        # Checked after the profile, because width mapping can turn e.g. FULLWIDTH COMMERCIAL AT into "@".
        for char in prepared:
            if char in _LOCALPART_PROHIBITED:
                raise JIDError(f"localpart contains {char!r}, prohibited by RFC 7622 section 3.3.1")
    _check_length(prepared, "localpart")
    return prepared


def prep_resourcepart(text: str) -> str:
    """Prepare and enforce a resourcepart (RFC 7622 section 3.4): the ``OpaqueString`` profile.

    Raises:
        JIDError: the string is empty, has characters the profile disallows (controls, unassigned code
            points ...), or is longer than 1023 octets once prepared.
    """
    _check_input(text, "resourcepart")
    if _ASCII_RESOURCEPART.fullmatch(text):
        prepared = text
    else:
        try:
            prepared = _OPAQUE_STRING.enforce(text)
        except UnicodeError as exc:
            raise JIDError(f"resourcepart not allowed by OpaqueString: {_precis_reason(exc)}") from None
    _check_length(prepared, "resourcepart")
    return prepared


def _precis_reason(exc: UnicodeError) -> str:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else str(exc)


def prep_domainpart(text: str) -> str:
    """Prepare and enforce a domainpart (RFC 7622 section 3.2), returning its canonical form.

    - a single trailing dot is stripped first (section 3.2: "before any other canonicalization steps");
    - ``[IPv6]`` literals (RFC 3986 IP-literal, no zone, no IPvFuture) become their RFC 5952 form, lowercase;
      IPv4 addresses (dotted decimal, no leading zeros) are kept as they are;
    - anything else is a domain name: mapped as RFC 5895 section 2 says (lowercase, fullwidth and halfwidth
      forms to their decompositions, NFC, IDEOGRAPHIC FULL STOP to "."), then split into labels, each either
      an NR-LDH label (RFC 5890 section 2.3.1: no "--" in the third and fourth positions) or a U-label.
      A-labels (``xn--``) become U-labels, as section 3.2.2 requires, so both spellings compare equal.

    IDNA2008 (RFC 5891 section 4.2, RFC 5892, RFC 5893): the standard library only implements IDNA2003 (its
    ``idna`` codec accepts symbols such as U+265A and maps "ß" to "ss", which IDNA2008 forbids), and the
    package should not grow a dependency for this, so U-labels are checked here from ``unicodedata``: each
    code point's derived property is computed with the RFC 5892 section 3 algorithm, the CONTEXTJ/CONTEXTO
    rules of RFC 5892 appendix A are applied (scripts guessed from character names; ZERO WIDTH NON-JOINER is
    accepted only after a virama, since joining types are not in ``unicodedata``), and so are the hyphen,
    leading combining mark and Bidi rules of RFC 5891 section 4.2.3. The Unicode version is the interpreter's.
    Labels are at most 63 octets in their A-label (DNS) form. A final label of digits only must be part of an
    IPv4 address: no top-level domain is all-numeric (RFC 3696 section 2), and this keeps "1.2.3.999" from
    passing as a name.

    Raises:
        JIDError: the string is empty or not a valid domainpart, or is longer than 1023 octets once prepared.
    """
    _check_input(text, "domainpart")
    if text[-1] == ".":
        text = text[:-1]
        if not text:
            raise JIDError("domainpart is empty")
    mapped = text.lower() if text.isascii() else _map_domain(text)
    if mapped[0] == "[":
        prepared = _prep_ip_literal(mapped)
    else:
        labels = mapped.split(".")
        prepared_labels = [_prep_label(label) for label in labels]
        last = prepared_labels[-1]
        if last.isascii() and last.isdigit():
            prepared = _prep_ipv4(mapped)
        else:
            if _is_bidi_domain(prepared_labels):
                for label in prepared_labels:
                    _check_bidi_label(label)
            prepared = ".".join(prepared_labels)
    _check_length(prepared, "domainpart")
    return prepared


def _map_domain(text: str) -> str:
    # RFC 5895 section 2, steps 1 to 4 (RFC 7622 section 3.2.3).
    lowered = text.lower()
    chars = []
    for char in lowered:
        decomposition = unicodedata.decomposition(char)
        if decomposition.startswith(("<wide>", "<narrow>")):
            chars.append(chr(int(decomposition.split()[1], 16)))
        else:
            chars.append(char)
    return unicodedata.normalize("NFC", "".join(chars)).replace("\u3002", ".")


def _prep_ip_literal(text: str) -> str:
    # RFC 7622 section 3.2.1 and RFC 3986 section 3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]".
    if len(text) < 3 or text[-1] != "]" or not text.isascii():
        raise JIDError("domainpart is not a valid IP literal")
    inner = text[1:-1]
    if "%" in inner:
        raise JIDError("domainpart IPv6 literal must not carry a zone")
    try:
        address = ipaddress.IPv6Address(inner)
    except ValueError:
        raise JIDError("domainpart is not a valid IPv6 literal") from None
    return f"[{address.compressed}]"


def _prep_ipv4(text: str) -> str:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise JIDError("domainpart ends in an all-numeric label but is not an IPv4 address") from None
    return text


def _prep_label(label: str) -> str:
    if not label:
        raise JIDError("domainpart has an empty label")
    if label.isascii():
        if label.startswith("xn--"):
            return _a_label_to_u_label(label)
        if not _LDH_LABEL.fullmatch(label):
            if len(label) > _MAX_LABEL_OCTETS:
                raise JIDError(f"domainpart label is longer than {_MAX_LABEL_OCTETS} octets")
            raise JIDError(f"domainpart label {label!r} is not a host name label (letters, digits, hyphens)")
        if label[2:4] == "--":
            # RFC 5890 section 2.3.1: "--" in the third and fourth positions is reserved (R-LDH).
            raise JIDError(f"domainpart label {label!r} is a reserved LDH label")
        return label
    _check_u_label(label)
    return label


def _a_label_to_u_label(label: str) -> str:
    # RFC 7622 section 3.2.2: "each A-label MUST be converted to a U-label".
    try:
        u_label = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        raise JIDError(f"domainpart label {label!r} is not a valid A-label") from None
    # A genuine A-label is the exact encoding of a non-ASCII label in the mapped (lowercase, NFC) form.
    if u_label.isascii() or _to_a_label(u_label) != label or _map_domain(u_label) != u_label:
        raise JIDError(f"domainpart label {label!r} is not a valid A-label")
    _check_u_label(u_label)
    return u_label


def _to_a_label(u_label: str) -> str:
    return "xn--" + u_label.encode("punycode").decode("ascii")


def _check_u_label(label: str) -> None:
    # RFC 5891 section 4.2.3.1: hyphen restrictions.
    if label[2:4] == "--" or label[0] == "-" or label[-1] == "-":
        raise JIDError(f"domainpart label {label!r} breaks the IDNA hyphen rules")
    # RFC 5891 section 4.2.3.2: a label must not begin with a combining mark.
    if unicodedata.category(label[0]).startswith("M"):
        raise JIDError(f"domainpart label {label!r} begins with a combining mark")
    for index, char in enumerate(label):
        status = _idna_property(char)
        if status == _PVALID:
            continue
        if status == _CONTEXTJ and _contextj_ok(label, index):
            continue
        if status == _CONTEXTO and _contexto_ok(label, index):
            continue
        raise JIDError(f"domainpart has U+{ord(char):04X}, which IDNA2008 does not allow there (RFC 5892)")
    if len(_to_a_label(label)) > _MAX_LABEL_OCTETS:
        raise JIDError(f"domainpart label is longer than {_MAX_LABEL_OCTETS} octets as an A-label")


_PVALID: Final = "PVALID"
_CONTEXTJ: Final = "CONTEXTJ"
_CONTEXTO: Final = "CONTEXTO"
_DISALLOWED: Final = "DISALLOWED"

# RFC 5892 section 2.6, Exceptions (F).
_EXCEPTIONS: Final[dict[int, str]] = {
    **dict.fromkeys((0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007), _PVALID),
    **dict.fromkeys((0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB), _CONTEXTO),
    **dict.fromkeys(range(0x0660, 0x066A), _CONTEXTO),
    **dict.fromkeys(range(0x06F0, 0x06FA), _CONTEXTO),
    **dict.fromkeys(
        (0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B), _DISALLOWED
    ),
}

# Default_Ignorable_Code_Point (part of IgnorableProperties (C)) in the LetterDigits categories; the others
# are format or control characters and fall outside LetterDigits anyway.
_IGNORABLE_LETTERS: Final = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)
# IgnorableBlocks (D) and OldHangulJamo (I).
_IGNORABLE_BLOCKS: Final = (
    (0x20D0, 0x20FF),
    (0x1D100, 0x1D1FF),
    (0x1D200, 0x1D24F),
    (0x1100, 0x11FF),
    (0xA960, 0xA97F),
    (0xD7B0, 0xD7FF),
)
_LETTER_DIGITS: Final = frozenset({"Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc"})


def _in_ranges(code_point: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code_point <= high for low, high in ranges)


def _idna_property(char: str) -> str:
    """The IDNA2008 derived property of one code point (RFC 5892 section 3, in its order)."""
    code_point = ord(char)
    if code_point in _EXCEPTIONS:
        return _EXCEPTIONS[code_point]
    category = unicodedata.category(char)
    if category == "Cn":  # Unassigned (J); noncharacters are Cn too and disallowed either way.
        return _DISALLOWED
    if char in _LDH_CHARS:
        return _PVALID
    if code_point in (0x200C, 0x200D):  # JoinControl (H)
        return _CONTEXTJ
    # Unstable (B): changed by NFKC_Casefold, approximated as NFKC(casefold(NFKC(c))).
    if unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold()) != char:
        return _DISALLOWED
    if _in_ranges(code_point, _IGNORABLE_LETTERS) or _in_ranges(code_point, _IGNORABLE_BLOCKS):
        return _DISALLOWED
    return _PVALID if category in _LETTER_DIGITS else _DISALLOWED


_VIRAMA: Final = 9  # Canonical_Combining_Class of a virama.


def _contextj_ok(label: str, index: int) -> bool:
    # RFC 5892 appendix A.1 and A.2: ZERO WIDTH (NON-)JOINER after a virama. A.1's other case (joining types
    # of the neighbours) needs data unicodedata lacks; such labels are refused rather than guessed at.
    return index > 0 and unicodedata.combining(label[index - 1]) == _VIRAMA


def _script_is(char: str, *prefixes: str) -> bool:
    return unicodedata.name(char, "").startswith(prefixes)


def _contexto_ok(label: str, index: int) -> bool:
    code_point = ord(label[index])
    before = label[index - 1] if index > 0 else ""
    after = label[index + 1] if index + 1 < len(label) else ""
    if code_point == 0x00B7:  # A.3 MIDDLE DOT: between two "l".
        return before == "l" and after == "l"
    if code_point == 0x0375:  # A.4 GREEK LOWER NUMERAL SIGN: followed by Greek.
        return bool(after) and _script_is(after, "GREEK")
    if code_point in (0x05F3, 0x05F4):  # A.5, A.6 HEBREW GERESH, GERSHAYIM: preceded by Hebrew.
        return bool(before) and _script_is(before, "HEBREW")
    if code_point == 0x30FB:  # A.7 KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the label.
        return any(
            _script_is(char, "HIRAGANA", "KATAKANA", "CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")
            for char in label
            if char != "\u30fb"
        )
    if 0x0660 <= code_point <= 0x0669:  # A.8: no EXTENDED ARABIC-INDIC DIGITs in the label.
        return not any("\u06f0" <= char <= "\u06f9" for char in label)
    if 0x06F0 <= code_point <= 0x06F9:  # A.9: no ARABIC-INDIC DIGITs in the label.
        return not any("\u0660" <= char <= "\u0669" for char in label)
    return False


_RTL: Final = frozenset({"R", "AL"})


def _is_bidi_domain(labels: list[str]) -> bool:
    # RFC 5893 section 1.4: a Bidi domain name has at least one character of Bidi class R, AL or AN.
    return any(
        unicodedata.bidirectional(char) in ("R", "AL", "AN")
        for label in labels
        if not label.isascii()
        for char in label
    )


def _check_bidi_label(label: str) -> None:
    # RFC 5893 section 2: the Bidi rule, applied to every label of a Bidi domain name.
    classes = [unicodedata.bidirectional(char) for char in label]
    last = len(classes) - 1
    while last >= 0 and classes[last] == "NSM":
        last -= 1
    end = classes[last] if last >= 0 else ""
    if classes[0] in _RTL:
        # Rules 2, 3 and 4.
        ok = set(classes) <= _BIDI_RTL_ALLOWED and end in _BIDI_RTL_ENDS
        ok = ok and not ("EN" in classes and "AN" in classes)
    elif classes[0] == "L":
        # Rules 5 and 6.
        ok = set(classes) <= _BIDI_LTR_ALLOWED and end in _BIDI_LTR_ENDS
    else:
        ok = False  # Rule 1.
    if not ok:
        raise JIDError(f"domainpart label {label!r} breaks the IDNA Bidi rule (RFC 5893 section 2)")


_BIDI_RTL_ALLOWED: Final = frozenset({"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})
_BIDI_RTL_ENDS: Final = frozenset({"R", "AL", "EN", "AN"})
_BIDI_LTR_ALLOWED: Final = frozenset({"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})
_BIDI_LTR_ENDS: Final = frozenset({"L", "EN"})


_set_attr = object.__setattr__


@final
@dataclasses.dataclass(frozen=True, slots=True, eq=False, repr=False)
class JID:
    """An XMPP address (RFC 7622), prepared and canonical. Immutable and hashable.

    Build one with :meth:`parse` (from the wire) or :meth:`make` (from separate parts); both prepare and
    validate. Calling ``JID(local, domain, resource)`` directly trusts its arguments to be prepared already,
    as :meth:`bare` and :meth:`with_resource` do with parts that came out of a JID.

    The canonical string and the hash are computed once, at construction: the router stringifies and hashes
    addresses for every stanza.
    """

    local: str | None
    domain: str
    resource: str | None = None
    _str: str = dataclasses.field(init=False, repr=False, compare=False)
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)
    _bare: JID | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = self.domain if self.local is None else f"{self.local}@{self.domain}"
        if self.resource is not None:
            text = f"{text}/{self.resource}"
        _set_attr(self, "_str", text)
        _set_attr(self, "_hash", hash(text))
        _set_attr(self, "_bare", None)

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse and prepare an address as RFC 7622 section 3.1 describes.

        The resourcepart is everything after the first "/"; of what precedes it, the localpart is everything
        before the first "@" and the domainpart the rest. A separator with nothing after (or, for "@", before)
        it is an error. Results are cached, so parsing an address seen before costs a dictionary lookup.

        Raises:
            JIDError: the string is not a valid JID; the message says which part and why.
        """
        if len(text) <= _CACHE_MAX_CODE_POINTS:
            return _parse_cached(text)
        return _parse(text)

    @classmethod
    def make(cls, local: str | None, domain: str, resource: str | None = None) -> JID:
        """A JID from its parts, each prepared as :meth:`parse` would (``None`` means the part is absent).

        Raises:
            JIDError: a part is empty or invalid.
        """
        return cls(
            None if local is None else prep_localpart(local),
            prep_domainpart(domain),
            None if resource is None else prep_resourcepart(resource),
        )

    @property
    def is_bare(self) -> bool:
        """No resourcepart (``user@host`` or ``host``)."""
        return self.resource is None

    @property
    def is_full(self) -> bool:
        """A resourcepart is present."""
        return self.resource is not None

    @property
    def is_domain(self) -> bool:
        """Only a domainpart: a server, service or component address."""
        return self.local is None and self.resource is None

    def bare(self) -> JID:
        """This address without its resourcepart (the same object when there is none)."""
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = JID(self.local, self.domain)
            _set_attr(self, "_bare", bare)
        return bare

    def with_resource(self, resource: str) -> JID:
        """This address with ``resource`` (prepared here) as its resourcepart.

        Raises:
            JIDError: the resource is empty or invalid.
        """
        return JID(self.local, self.domain, prep_resourcepart(resource))

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"JID({self._str!r})"

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        # The canonical string determines the parts (neither localpart nor domainpart may hold "@" or "/").
        if isinstance(other, JID):
            return self._str == other._str
        return NotImplemented

    def __reduce__(self) -> tuple[type[JID], tuple[str | None, str, str | None]]:
        return (JID, (self.local, self.domain, self.resource))

    def __copy__(self) -> JID:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> JID:
        return self


def _parse(text: str) -> JID:
    # RFC 7622 section 3.1: the resourcepart follows the first "/", the localpart precedes the first "@".
    slash = text.find("/")
    if slash == -1:
        head = text
        resource = None
    else:
        head = text[:slash]
        resource = prep_resourcepart(text[slash + 1 :])
    at = head.find("@")
    if at == -1:
        local = None
        domain = prep_domainpart(head)
    else:
        local = prep_localpart(head[:at])
        domain = prep_domainpart(head[at + 1 :])
    jid = JID(local, domain, resource)
    if jid._str == text:
        # Already canonical (the common case): keep one copy of the string, shared with the cache key.
        _set_attr(jid, "_str", text)
    return jid


# Exceptions are never cached by lru_cache, so invalid input does not stay in the cache.
_parse_cached: Final = functools.lru_cache(maxsize=_CACHE_SIZE)(_parse)


def covers(item: JID, address: JID) -> bool:
    """Whether the JID ``item`` of a block list covers ``address`` (XEP-0191 section 6, XEP-0016's rules).

    ``user@domain/resource`` covers only that address, ``user@domain`` every resource of it, ``domain/resource``
    that resource at the domain (of any user), and ``domain`` the domain and every address at it.
    """
    if item.local is not None:
        return item == address if item.resource is not None else item == address.bare()
    if item.domain != address.domain:
        return False
    return item.resource is None or item.resource == address.resource
