"""XEP-0030: the server's and an account's identities and features, exactly those of the enabled modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import Harness
from tests.unit.modules.conftest import condition, only
from xmppd.modules import loader
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_DISCO_ITEMS

INFO = "<iq type='get' id='d1' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'{node}/></iq>"
ITEMS = "<iq type='get' id='d2' to='{to}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "ping", "version", "time"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


def features(result: Element) -> set[str]:
    query = result.find("query", NS_DISCO_INFO)
    assert query is not None
    return {f.attrs["var"] for f in query.find_all("feature")}


def identities(result: Element) -> set[tuple[str, str]]:
    query = result.find("query", NS_DISCO_INFO)
    assert query is not None
    return {(i.attrs["category"], i.attrs["type"]) for i in query.find_all("identity")}


async def test_server_info_lists_enabled_features(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(INFO.format(to="localhost", node=""), alice)
    result = only(alice)
    assert result.attrs["type"] == "result" and result.attrs["id"] == "d1"
    assert features(result) == {
        NS_DISCO_INFO,
        NS_DISCO_ITEMS,
        "urn:xmpp:ping",
        "jabber:iq:version",
        "urn:xmpp:time",
    }
    assert identities(result) == {("server", "im")}


async def test_unloading_a_module_removes_its_feature(harness: Harness) -> None:
    await loader.unload(harness.host, "version")
    alice = harness.bind("alice@localhost/a")
    await harness.route(INFO.format(to="localhost", node=""), alice)
    assert "jabber:iq:version" not in features(only(alice))
    await harness.route("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>", alice)
    assert condition(only(alice)) == "service-unavailable"


async def test_own_account_info(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(INFO.format(to="alice@localhost", node=""), alice)
    result = only(alice)
    assert identities(result) == {("account", "registered")}
    assert "urn:xmpp:ping" in features(result)
    assert "jabber:iq:version" not in features(result)


async def test_another_accounts_info_is_not_disclosed(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(INFO.format(to="bob@localhost", node=""), alice)
    assert condition(only(alice)) == "service-unavailable"


async def test_unknown_node_is_item_not_found(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(INFO.format(to="localhost", node=" node='nothing'"), alice)
    assert condition(only(alice)) == "item-not-found"


async def test_items_are_empty(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(ITEMS.format(to="localhost"), alice)
    result = only(alice)
    query = result.find("query", NS_DISCO_ITEMS)
    assert result.attrs["type"] == "result" and query is not None and query.children == []
