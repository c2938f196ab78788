"""XEP-0049 with real slixmpp clients: store, retrieve across sessions, others refused, reserved namespaces."""

from __future__ import annotations

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET, ElementBase

from tests.integration.conftest import Client, ClientFactory


class Prefs(ElementBase):
    """XEP-0049's example payload."""

    name = "exodus"
    namespace = "exodus:prefs"
    plugin_attrib = "exodus"
    interfaces = {"defaultnick"}
    sub_interfaces = interfaces


async def login(clients: ClientFactory, jid: str) -> Client:
    client = clients.build(jid)
    client.register_plugin("xep_0049")
    client.plugin["xep_0049"].register(Prefs)  # type: ignore[no-untyped-call]
    return await clients.connect(client)


def raw_iq(client: Client, iq_type: str, query: str, to: str | None = None) -> object:
    iq = client.make_iq_set() if iq_type == "set" else client.make_iq_get()
    if to is not None:
        iq["to"] = to
    iq.xml.append(ET.fromstring(query))
    return iq.send(timeout=5)  # type: ignore[no-untyped-call]


async def error_condition(awaitable: object) -> str:
    with pytest.raises(IqError) as info:
        await awaitable  # type: ignore[misc]
    condition: str = info.value.iq["error"]["condition"]
    return condition


async def test_store_and_retrieve_in_a_later_session(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    nothing = await alice.plugin["xep_0049"].retrieve("exodus")
    assert nothing["private"]["exodus"]["defaultnick"] == ""
    prefs = Prefs()
    prefs["defaultnick"] = "Hamlet"
    await alice.plugin["xep_0049"].store(prefs)
    alice.disconnect()
    again = await login(clients, "alice@localhost/b")
    result = await again.plugin["xep_0049"].retrieve("exodus")
    assert result["private"]["exodus"]["defaultnick"] == "Hamlet"


async def test_another_users_storage_is_forbidden(clients: ClientFactory) -> None:
    bob = await login(clients, "bob@localhost/b")
    query = "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>"
    for iq_type in ("get", "set"):
        assert await error_condition(raw_iq(bob, iq_type, query, to="alice@localhost")) == "forbidden"


async def test_reserved_namespace_and_empty_query(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    reserved = "<query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard></query>"
    assert await error_condition(raw_iq(alice, "set", reserved)) == "not-acceptable"
    empty = "<query xmlns='jabber:iq:private'/>"
    assert await error_condition(raw_iq(alice, "set", empty)) == "not-acceptable"
    assert await error_condition(raw_iq(alice, "get", empty)) == "bad-request"
