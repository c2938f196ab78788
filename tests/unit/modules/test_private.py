"""XEP-0049: private XML storage, for one's own account only, with the XEP's error conditions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_PRIVATE
from xmppd.xml.serializer import to_bytes

PREFS = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
BOOKMARKS = (
    "<storage xmlns='storage:bookmarks'><conference jid='room@muc.localhost' autojoin='true'/></storage>"
)


def iq(iq_type: str, content: str, to: str | None = None, iq_id: str = "p1") -> str:
    to_attr = f" to='{to}'" if to else ""
    return (
        f"<iq type='{iq_type}' id='{iq_id}'{to_attr}><query xmlns='jabber:iq:private'>{content}</query></iq>"
    )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "private"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


async def store(harness: Harness, session: FakeSession, content: str) -> None:
    await harness.route(iq("set", content), session)
    result = only(session)
    assert result.attrs["type"] == "result" and result.children == [], result


async def retrieve(
    harness: Harness, session: FakeSession, content: str, to: str | None = None
) -> list[Element]:
    await harness.route(iq("get", content, to), session)
    result = only(session)
    assert result.attrs["type"] == "result", result
    query = result.find("query", NS_PRIVATE)
    assert query is not None
    return query.elements()


async def test_store_and_retrieve(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store(harness, alice, PREFS)
    for to in (None, "alice@localhost"):
        assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs'/>", to) == [parse(PREFS)]


async def test_unset_namespace_returns_the_empty_element(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs' x='y'><a/></exodus>") == [
        Element("exodus", "exodus:prefs")
    ]


async def test_storage_is_keyed_by_namespace_and_name(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store(harness, alice, PREFS)
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == ["{exodus:prefs}exodus"]
    stored = await harness.storage.keyval.get("localhost", "alice", "private", "{exodus:prefs}exodus")
    assert stored == to_bytes(parse(PREFS))
    # Same namespace, another name: another fragment.
    assert await retrieve(harness, alice, "<other xmlns='exodus:prefs'/>") == [
        Element("other", "exodus:prefs")
    ]


async def test_set_with_several_children(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    second = "<more xmlns='exodus:prefs'>2</more>"
    await store(harness, alice, PREFS + second + BOOKMARKS)
    assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs'/><more xmlns='exodus:prefs'/>") == [
        parse(PREFS),
        parse(second),
    ]
    assert await retrieve(harness, alice, "<storage xmlns='storage:bookmarks'/>") == [parse(BOOKMARKS)]


async def test_set_replaces_and_empty_element_removes(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store(harness, alice, PREFS)
    replacement = "<exodus xmlns='exodus:prefs'><defaultnick>Ophelia</defaultnick></exodus>"
    await store(harness, alice, replacement)
    assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs'/>") == [parse(replacement)]
    await store(harness, alice, "<exodus xmlns='exodus:prefs'/>")
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == []
    assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs'/>") == [
        Element("exodus", "exodus:prefs")
    ]


async def test_get_of_several_namespaces_is_a_bad_request(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        iq("get", "<exodus xmlns='exodus:prefs'/><storage xmlns='storage:bookmarks'/>"), alice
    )
    assert condition(only(alice)) == "bad-request"


async def test_get_without_child_is_a_bad_request(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(iq("get", ""), alice)
    assert condition(only(alice)) == "bad-request"


async def test_set_without_child_is_not_acceptable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(iq("set", ""), alice)
    assert condition(only(alice)) == "not-acceptable"


@pytest.mark.parametrize(
    "child",
    [
        "<exodus/>",  # no namespace of its own: it inherits jabber:iq:private
        "<exodus xmlns=''/>",
        "<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>",
        "<query xmlns='jabber:iq:roster'/>",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        "<x xmlns='" + "n" * 1100 + "'/>",
    ],
)
@pytest.mark.parametrize("iq_type", ["get", "set"])
async def test_improper_or_reserved_namespace_is_not_acceptable(
    harness: Harness, iq_type: str, child: str
) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(iq(iq_type, child), alice)
    assert condition(only(alice)) == "not-acceptable"
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == []


async def test_one_bad_child_stores_nothing(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(iq("set", PREFS + "<vCard xmlns='vcard-temp'/>"), alice)
    assert condition(only(alice)) == "not-acceptable"
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == []


async def test_same_element_twice_in_a_set_is_a_bad_request(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(iq("set", PREFS + PREFS), alice)
    assert condition(only(alice)) == "bad-request"
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == []


@pytest.mark.parametrize("iq_type", ["get", "set"])
async def test_another_users_storage_is_forbidden(harness: Harness, iq_type: str) -> None:
    alice = harness.bind("alice@localhost/a")
    await store(harness, alice, PREFS)
    bob = harness.bind("bob@localhost/b")
    await harness.route(iq(iq_type, PREFS, to="alice@localhost"), bob)
    error = only(bob)
    assert condition(error) == "forbidden"
    assert "defaultnick" not in repr(error)
    assert await retrieve(harness, alice, "<exodus xmlns='exodus:prefs'/>") == [parse(PREFS)]


async def test_unknown_account_is_service_unavailable(harness: Harness) -> None:
    bob = harness.bind("bob@localhost/b")
    await harness.route(iq("get", PREFS, to="nobody@localhost"), bob)
    assert condition(only(bob)) == "service-unavailable"


async def test_disco_advertises_the_namespace(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in ("localhost", "alice@localhost"):
        await harness.route(
            f"<iq type='get' id='d' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            alice,
        )
        query = only(alice).find("query", NS_DISCO_INFO)
        assert query is not None
        assert NS_PRIVATE in {f.attrs["var"] for f in query.find_all("feature")}


async def test_account_deletion_removes_everything(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await store(harness, alice, PREFS + BOOKMARKS)
    await store(harness, bob, PREFS)
    await harness.storage.keyval.set("localhost", "alice", "other-feature", "k", b"kept")
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert await harness.storage.keyval.keys("localhost", "alice", "private") == []
    assert await harness.storage.keyval.keys("localhost", "bob", "private") == ["{exodus:prefs}exodus"]
    # Only this module's data: other features delete their own.
    assert await harness.storage.keyval.get("localhost", "alice", "other-feature", "k") == b"kept"
