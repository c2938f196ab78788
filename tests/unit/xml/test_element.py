"""The Element type: attributes, children, text, copies and structural equality."""

from __future__ import annotations

import pytest

from xmppd.xml.element import XML_LANG, Element
from xmppd.xml.ns import NS_CLIENT, NS_XML


def test_construction() -> None:
    element = Element("message", NS_CLIENT, {"to": "a@b"}, text="hi")
    assert (element.name, element.ns, element.attrs, element.children) == (
        "message",
        NS_CLIENT,
        {"to": "a@b"},
        ["hi"],
    )
    assert Element("a", "urn:a").attrs == {} and Element("a", "urn:a").children == []
    assert Element("a", "urn:a", text="").children == []
    assert XML_LANG == "{" + NS_XML + "}lang"


def test_attributes_are_copied_from_the_mapping() -> None:
    attrs = {"to": "a@b"}
    element = Element("message", NS_CLIENT, attrs)
    element.set("to", "c@d")
    assert attrs == {"to": "a@b"}


def test_get_and_set() -> None:
    element = Element("message", NS_CLIENT)
    assert element.get("to") is None and element.get("to", "x") == "x"
    element.set("to", "a@b")
    element.set(XML_LANG, "en")
    assert element.get("to") == "a@b" and element.attrs == {"to": "a@b", XML_LANG: "en"}
    element.set("to", None)
    element.set("absent", None)
    assert element.attrs == {XML_LANG: "en"}


def test_add_append_and_find() -> None:
    iq = Element("iq", NS_CLIENT)
    query = iq.add("query", "jabber:iq:roster", {"ver": "1"})
    item = query.add("item", attrs={"jid": "a@b"}, text="x")
    iq.append("text")
    other = iq.add("query", "urn:other")
    assert item.ns == "jabber:iq:roster"  # a child is in its parent's namespace unless told otherwise
    assert iq.children == [query, "text", other]
    assert iq.elements() == [query, other]
    assert iq.find() is query
    assert iq.find("query") is query
    assert iq.find("query", "urn:other") is other
    assert iq.find(ns="urn:other") is other
    assert iq.find("missing") is None and iq.find("query", "urn:missing") is None
    assert list(iq.find_all("query")) == [query, other]
    assert list(iq.find_all(ns="jabber:iq:roster")) == [query]
    assert list(iq.find_all()) == [query, other]
    assert query.child_text("item") == "x"
    assert query.child_text("item", "urn:other") is None
    assert iq.child_text("query") == ""


def test_remove_is_by_identity() -> None:
    parent = Element("a", "urn:a")
    first = parent.add("b")
    twin = parent.add("b")
    assert first == twin
    parent.remove(twin)
    assert parent.children == [first] and parent.children[0] is first
    with pytest.raises(ValueError):
        parent.remove(Element("b", "urn:a"))


def test_text_reads_direct_text_only() -> None:
    element = Element("body", NS_CLIENT, None, ["a", Element("b", NS_CLIENT, text="inner"), "c"])
    assert element.text == "ac"
    assert Element("x", "urn:x", None, [Element("y", "urn:x")]).text == ""
    assert Element("x", "urn:x").text == ""


def test_setting_text_keeps_child_elements() -> None:
    child = Element("b", NS_CLIENT)
    element = Element("body", NS_CLIENT, None, ["a", child, "c"])
    element.text = "new"
    assert element.children == ["new", child]
    element.text = ""
    assert element.children == [child]


def test_copy_is_deep_and_shallow_copy_shares_children() -> None:
    original = Element("message", NS_CLIENT, {"to": "a@b"}, [Element("body", NS_CLIENT, text="hi")])
    deep = original.copy()
    shallow = original.shallow_copy()
    assert deep == original and shallow == original
    deep.set("to", "x@y")
    deep.elements()[0].text = "changed"
    assert original.get("to") == "a@b" and original.child_text("body") == "hi"
    shallow.set("to", "x@y")
    shallow.append("more")
    assert original.get("to") == "a@b" and len(original.children) == 1
    assert shallow.elements()[0] is original.elements()[0]


def test_equality_is_structural_with_text_merged() -> None:
    base = Element("a", "urn:a", {"k": "v"}, ["xy", Element("b", "urn:a")])
    assert base == Element("a", "urn:a", {"k": "v"}, ["x", "", "y", Element("b", "urn:a")])
    assert base != Element("a", "urn:b", {"k": "v"}, ["xy", Element("b", "urn:a")])
    assert base != Element("A", "urn:a", {"k": "v"}, ["xy", Element("b", "urn:a")])
    assert base != Element("a", "urn:a", {"k": "w"}, ["xy", Element("b", "urn:a")])
    assert base != Element("a", "urn:a", {"k": "v"}, [Element("b", "urn:a"), "xy"])
    assert base != Element("a", "urn:a", {"k": "v"}, ["xy", Element("b", "urn:a", text="t")])
    assert base != "a"
    with pytest.raises(TypeError):
        hash(base)


def test_repr_shows_the_xml_and_never_raises() -> None:
    assert repr(Element("a", "urn:a", {"k": "v"}, text="t")) == "<Element <a xmlns='urn:a' k='v'>t</a>>"
    assert repr(Element("not a name", "urn:a")) == "<Element {urn:a}not a name attrs={} children=[]>"


def test_a_source_goes_with_any_change_and_is_never_copied() -> None:
    def received() -> Element:
        element = Element("message", NS_CLIENT, {"to": "a@b"}, [Element("body", NS_CLIENT, text="hi")])
        element.source = b"<message to='a@b'><body>hi</body></message>"
        return element

    assert Element("a", "urn:a").source is None
    element = received()
    assert element == Element("message", NS_CLIENT, {"to": "a@b"}, [Element("body", NS_CLIENT, text="hi")])
    assert element.copy().source is None and element.shallow_copy().source is None
    changes = [
        lambda e: e.set("type", "chat"),
        lambda e: e.set("to", None),
        lambda e: e.append("text"),
        lambda e: e.add("subject"),
        lambda e: e.remove(e.elements()[0]),
        lambda e: setattr(e, "text", "new"),
    ]
    for change in changes:
        element = received()
        change(element)
        assert element.source is None


def test_adopting_takes_the_attributes_as_they_are() -> None:
    attrs = {"to": "a@b"}
    element = Element.adopting("message", NS_CLIENT, attrs)
    assert element == Element("message", NS_CLIENT, {"to": "a@b"})
    assert element.attrs is attrs and element.children == [] and element.source is None
