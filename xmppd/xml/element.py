"""The element type every layer passes around.

An ``Element`` is a namespaced XML element: a local ``name``, a namespace URI ``ns``, attributes and children.
Children are elements or text chunks (``str``) in document order, so mixed content survives a round trip.

Attribute keys are the local name for attributes in no namespace (``"to"``) and Clark notation for namespaced ones
(``"{http://www.w3.org/XML/1998/namespace}lang"``). Namespace declarations are never attributes: the serializer
writes them where the namespaces change.

The type is deliberately small and slotted: it is on the hot path (one per stanza and per child).

``source`` lets a stanza a client sent be forwarded to another client as the bytes it came in, without
serializing it again: see ``Element.source``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from xmppd.xml.ns import NS_XML

XML_LANG = "{" + NS_XML + "}lang"


class Element:
    """A namespaced XML element with attributes and mixed content."""

    __slots__ = ("attrs", "children", "name", "ns", "source")

    name: str
    ns: str
    attrs: dict[str, str]
    children: list[Element | str]
    source: bytes | None
    """This element serialized as a top-level element of a client stream (default namespace ``jabber:client``,
    the prefix ``stream`` for the streams namespace, no other), when that is known without serializing: a stanza
    a client sent keeps the bytes it was read from, with the ``from`` the server stamped (``xmppd.stream.c2s``).
    None otherwise. It is true only as long as the element and what it contains are unchanged: the methods here
    set it to None on the element they change (not on its parent), so code that changes a received stanza, its
    ``attrs`` or anything inside it must set it to None too; better, it changes a copy, which has none. Not part
    of equality."""

    def __init__(
        self,
        name: str,
        ns: str,
        attrs: Mapping[str, str] | None = None,
        children: list[Element | str] | None = None,
        *,
        text: str | None = None,
    ) -> None:
        self.name = name
        self.ns = ns
        self.attrs = dict(attrs) if attrs else {}
        self.children = children if children is not None else []
        self.source = None
        if text:
            self.children.append(text)

    @classmethod
    def adopting(cls, name: str, ns: str, attrs: dict[str, str]) -> Element:
        """An element without children that takes ``attrs`` as its own (no copy): for the parser, which has a new
        dict for every element."""
        element = cls.__new__(cls)
        element.name = name
        element.ns = ns
        element.attrs = attrs
        element.children = []
        element.source = None
        return element

    # -- attributes -------------------------------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of attribute ``key`` (local name or Clark notation), or ``default``."""
        return self.attrs.get(key, default)

    def set(self, key: str, value: str | None) -> None:
        """Set attribute ``key``; ``None`` removes it."""
        self.source = None
        if value is None:
            self.attrs.pop(key, None)
        else:
            self.attrs[key] = value

    # -- children ---------------------------------------------------------------------------------------------

    def append(self, child: Element | str) -> None:
        """Append a child element or a text chunk."""
        self.source = None
        self.children.append(child)

    def add(
        self,
        name: str,
        ns: str | None = None,
        attrs: Mapping[str, str] | None = None,
        text: str | None = None,
    ) -> Element:
        """Create a child element (in this element's namespace unless ``ns`` is given), append it, return it."""
        child = Element(name, self.ns if ns is None else ns, attrs, text=text)
        self.source = None
        self.children.append(child)
        return child

    def elements(self) -> list[Element]:
        """The child elements, text left out."""
        return [c for c in self.children if isinstance(c, Element)]

    def find(self, name: str | None = None, ns: str | None = None) -> Element | None:
        """The first child element with this name (any name when None) in ``ns`` (any namespace when None)."""
        for child in self.children:
            if (
                isinstance(child, Element)
                and (name is None or child.name == name)
                and (ns is None or child.ns == ns)
            ):
                return child
        return None

    def find_all(self, name: str | None = None, ns: str | None = None) -> Iterator[Element]:
        """Every child element matching ``name`` and ``ns`` (None matches anything)."""
        for child in self.children:
            if (
                isinstance(child, Element)
                and (name is None or child.name == name)
                and (ns is None or child.ns == ns)
            ):
                yield child

    def child_text(self, name: str, ns: str | None = None) -> str | None:
        """The text of the first matching child, or None when there is no such child."""
        child = self.find(name, ns)
        return None if child is None else child.text

    def remove(self, child: Element) -> None:
        """Remove ``child`` (by identity)."""
        for index, existing in enumerate(self.children):
            if existing is child:
                del self.children[index]
                self.source = None
                return
        raise ValueError("not a child of this element")

    @property
    def text(self) -> str:
        """The concatenated text directly inside this element (not inside its children)."""
        children = self.children
        if not children:
            return ""
        if len(children) == 1:
            only = children[0]
            return only if isinstance(only, str) else ""
        return "".join(c for c in children if isinstance(c, str))

    @text.setter
    def text(self, value: str) -> None:
        self.source = None
        self.children = [c for c in self.children if isinstance(c, Element)]
        if value:
            self.children.insert(0, value)

    # -- copies and comparison ------------------------------------------------------------------------------

    def copy(self) -> Element:
        """A deep copy (text chunks are immutable and shared)."""
        return Element(
            self.name,
            self.ns,
            self.attrs,
            [c.copy() if isinstance(c, Element) else c for c in self.children],
        )

    def shallow_copy(self) -> Element:
        """A copy of this element whose children list is new but whose child elements are shared.

        Enough when only this element's attributes change (stamping ``from``, rewriting ``to``).
        """
        return Element(self.name, self.ns, self.attrs, list(self.children))

    def __eq__(self, other: object) -> bool:
        """Structural equality: name, namespace, attributes and children (adjacent text merged)."""
        if not isinstance(other, Element):
            return NotImplemented
        return (
            self.name == other.name
            and self.ns == other.ns
            and self.attrs == other.attrs
            and _normalised(self.children) == _normalised(other.children)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        from xmppd.xml.serializer import serialize  # noqa: PLC0415 (the serializer imports this module)

        try:
            return f"<Element {serialize(self)}>"
        except ValueError:
            # Not serializable (a bad name): repr is for debugging and logging, so it must not raise.
            return f"<Element {{{self.ns}}}{self.name} attrs={self.attrs!r} children={self.children!r}>"


def _normalised(children: list[Element | str]) -> list[Any]:
    """Children with adjacent text chunks merged and empty ones dropped, for comparison."""
    merged: list[Any] = []
    for child in children:
        if isinstance(child, str):
            if not child:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += child
                continue
        merged.append(child)
    return merged
