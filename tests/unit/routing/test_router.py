"""One test per row of docs/routing.md (RFC 6120 section 10, RFC 6121 section 8): test_rNN_* tests row RNN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession, Harness
from xmppd import hooks
from xmppd.hooks import HANDLED
from xmppd.routing.router import StanzaContext
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_STANZAS


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "ping", "version", "time"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


def condition(stanza: Element) -> str | None:
    """The defined condition of an error stanza, or None when it is not an error."""
    if stanza.attrs.get("type") != "error":
        return None
    error = stanza.find("error")
    assert error is not None
    child = next(iter(error.find_all(ns=NS_STANZAS)))
    return child.name


def only(session: FakeSession) -> Element:
    received = session.take()
    assert len(received) == 1, received
    return received[0]


# -- before anything -----------------------------------------------------------------------------------------


async def test_r2_malformed_to_is_jid_malformed(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='bad@@localhost' type='chat' id='1'><body>x</body></message>", alice)
    error = only(alice)
    assert condition(error) == "jid-malformed"
    assert error.attrs["id"] == "1"


@pytest.mark.parametrize(
    "xml",
    [
        "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",  # no id
        "<iq type='fetch' id='1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",  # bad type
        "<iq type='get' id='1' to='localhost'/>",  # no child
        "<iq type='set' id='1' to='localhost'><a xmlns='x'/><b xmlns='y'/></iq>",  # two children
    ],
)
async def test_r3_invalid_iq_is_bad_request(harness: Harness, xml: str) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(xml, alice)
    assert condition(only(alice)) == "bad-request"


async def test_r4_unknown_presence_type_is_bad_request(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<presence to='bob@localhost' type='dance'/>", alice)
    assert condition(only(alice)) == "bad-request"


async def test_r5_unknown_domain_is_remote_server_not_found(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        "<message to='x@elsewhere.example' type='chat' id='5'><body>x</body></message>", alice
    )
    error = only(alice)
    assert condition(error) == "remote-server-not-found"
    assert error.attrs["from"] == "x@elsewhere.example"


# -- no 'to' -------------------------------------------------------------------------------------------------


async def test_r6_message_without_to_goes_to_own_bare_jid(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a", priority=1)
    other = harness.bind("alice@localhost/b", priority=0)
    await harness.route("<message type='chat'><body>note to self</body></message>", other)
    assert only(alice).child_text("body") == "note to self"
    assert other.received == []


async def test_r7_presence_without_to_updates_availability(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a", available=False)
    await harness.route("<presence><priority>5</priority></presence>", alice)
    assert alice.available and alice.priority == 5
    await harness.route("<presence type='unavailable'/>", alice)
    assert not alice.available


async def test_r7_presence_broadcast_hook_runs(harness: Harness) -> None:
    seen: list[str] = []

    async def on_broadcast(context: StanzaContext) -> None:
        seen.append(str(context.sender))

    harness.host.hooks.add(hooks.PRESENCE_BROADCAST, on_broadcast)
    alice = harness.bind("alice@localhost/a", available=False)
    await harness.route("<presence/>", alice)
    assert seen == ["alice@localhost/a"]


async def test_r8_iq_without_to_is_handled_for_the_account(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        "<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", alice
    )
    result = only(alice)
    assert result.attrs["type"] == "result"
    query = result.find("query", "http://jabber.org/protocol/disco#info")
    assert query is not None
    identity = query.find("identity")
    assert identity is not None and identity.attrs["category"] == "account"


# -- to the server's domain ----------------------------------------------------------------------------------


async def test_r10_handled_iq_is_answered(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", alice)
    result = only(alice)
    assert result.attrs == {"type": "result", "id": "p1", "to": "alice@localhost/a", "from": "localhost"}
    assert result.children == []


async def test_r11_unhandled_iq_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        "<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing'/></iq>", alice
    )
    error = only(alice)
    assert condition(error) == "service-unavailable"
    assert error.attrs["from"] == "localhost" and error.attrs["id"] == "u1"


async def test_r12_iq_result_to_host_resolves_pending_request(harness: Harness) -> None:

    alice = harness.bind("alice@localhost/a")
    request = Element("iq", "jabber:client", {"type": "get", "to": "alice@localhost/a"})
    request.add("ping", "urn:xmpp:ping")
    pending = asyncio.ensure_future(harness.host.send_iq(request, timeout=5))
    await asyncio.sleep(0)
    sent = only(alice)
    assert sent.attrs["from"] == "localhost"
    await harness.route(f"<iq type='result' id='{sent.attrs['id']}' to='localhost'/>", alice)
    answer = await pending
    assert answer.attrs["type"] == "result"
    # A result nobody waits for is dropped without an answer.
    await harness.route("<iq type='result' id='nobody' to='localhost'/>", alice)
    assert alice.received == []


async def test_r13_unhandled_chat_to_host_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='localhost' type='chat' id='h1'><body>hi server</body></message>", alice)
    assert condition(only(alice)) == "service-unavailable"


@pytest.mark.parametrize(
    "xml",
    [
        "<message to='localhost' type='headline'><body>x</body></message>",
        "<message to='localhost' type='error'><error type='cancel'/></message>",
        "<presence to='localhost'/>",
    ],
)
async def test_r14_other_stanzas_to_host_are_dropped(harness: Harness, xml: str) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(xml, alice)
    assert alice.received == []


# -- to a bare JID -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", ["chat", "normal"])
async def test_r20_chat_and_normal_go_to_most_available(harness: Harness, msg_type: str) -> None:
    alice = harness.bind("alice@localhost/a")
    high1 = harness.bind("bob@localhost/h1", priority=5)
    high2 = harness.bind("bob@localhost/h2", priority=5)
    low = harness.bind("bob@localhost/low", priority=1)
    negative = harness.bind("bob@localhost/neg", priority=-1)
    unavailable = harness.bind("bob@localhost/off", priority=10, available=False)
    await harness.route(f"<message to='bob@localhost' type='{msg_type}'><body>x</body></message>", alice)
    assert len(high1.take()) == 1 and len(high2.take()) == 1
    assert low.received == [] and negative.received == [] and unavailable.received == []
    assert alice.received == []


async def test_r21_no_resource_without_offline_storage_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    harness.bind("bob@localhost/neg", priority=-1)  # only negative: as if none (8.5.2.1.1)
    await harness.route("<message to='bob@localhost' type='chat' id='o1'><body>x</body></message>", alice)
    assert condition(only(alice)) == "service-unavailable"


async def test_r21_offline_hook_takes_the_message(harness: Harness) -> None:
    stored: list[Element] = []

    async def store(context: StanzaContext) -> object:
        stored.append(context.stanza)
        return HANDLED

    harness.host.hooks.add(hooks.MESSAGE_OFFLINE, store)
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='bob@localhost' type='chat'><body>later</body></message>", alice)
    assert [m.child_text("body") for m in stored] == ["later"]
    assert alice.received == []


async def test_r21_no_such_account_is_service_unavailable(harness: Harness) -> None:
    stored: list[Element] = []

    async def store(context: StanzaContext) -> object:
        stored.append(context.stanza)
        return HANDLED

    harness.host.hooks.add(hooks.MESSAGE_OFFLINE, store)
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='nobody@localhost' type='chat'><body>x</body></message>", alice)
    assert condition(only(alice)) == "service-unavailable"
    assert stored == []


async def test_r22_headline_goes_to_every_non_negative_resource(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    b1 = harness.bind("bob@localhost/1", priority=5)
    b2 = harness.bind("bob@localhost/2", priority=0)
    negative = harness.bind("bob@localhost/3", priority=-5)
    await harness.route("<message to='bob@localhost' type='headline'><body>news</body></message>", alice)
    assert len(b1.take()) == 1 and len(b2.take()) == 1 and negative.received == []


async def test_r22_headline_without_resources_is_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='bob@localhost' type='headline'><body>news</body></message>", alice)
    assert alice.received == []


async def test_r23_groupchat_to_bare_jid_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route("<message to='bob@localhost' type='groupchat'><body>x</body></message>", alice)
    assert condition(only(alice)) == "service-unavailable"
    assert bob.received == []


async def test_r24_error_message_to_bare_jid_is_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route("<message to='bob@localhost' type='error'><error type='cancel'/></message>", alice)
    assert alice.received == [] and bob.received == []


async def test_r25_directed_presence_to_bare_jid_reaches_available_resources(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    b1 = harness.bind("bob@localhost/1", priority=-1)
    b2 = harness.bind("bob@localhost/2", available=False)
    await harness.route("<presence to='bob@localhost'/>", alice)
    assert len(b1.take()) == 1 and b2.received == []


async def test_r26_subscription_presence_goes_to_hook(harness: Harness) -> None:
    seen: list[str] = []

    async def subscription(context: StanzaContext) -> object:
        seen.append(context.stanza.attrs["type"])
        return HANDLED

    harness.host.hooks.add(hooks.PRESENCE_SUBSCRIPTION, subscription)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route("<presence to='bob@localhost' type='subscribe'/>", alice)
    await harness.route("<presence to='bob@localhost/1' type='probe'/>", alice)
    assert seen == ["subscribe", "probe"]
    assert bob.received == []


async def test_r26_unhandled_subscription_reaches_resources_probe_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route("<presence to='bob@localhost' type='subscribe'/>", alice)
    assert only(bob).attrs["type"] == "subscribe"
    await harness.route("<presence to='bob@localhost' type='probe'/>", alice)
    assert bob.received == [] and alice.received == []


async def test_r27_iq_to_bare_jid_is_handled_by_server(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route(
        "<iq type='get' id='b1' to='alice@localhost'><ping xmlns='urn:xmpp:ping'/></iq>", alice
    )
    assert only(alice).attrs["type"] == "result"
    await harness.route(
        "<iq type='get' id='b2' to='bob@localhost'><query xmlns='urn:example:x'/></iq>", alice
    )
    assert condition(only(alice)) == "service-unavailable"
    assert bob.received == []


async def test_r27_iq_to_missing_account_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        "<iq type='get' id='n1' to='nobody@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        alice,
    )
    assert condition(only(alice)) == "service-unavailable"


async def test_r28_iq_result_to_bare_jid_is_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/1")
    await harness.route("<iq type='result' id='r1' to='bob@localhost'/>", alice)
    assert alice.received == [] and bob.received == []


# -- to a full JID -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        "<message to='bob@localhost/neg' type='chat'><body>x</body></message>",
        "<presence to='bob@localhost/neg'/>",
        "<iq type='get' id='f1' to='bob@localhost/neg'><query xmlns='urn:example:x'/></iq>",
    ],
)
async def test_r30_full_jid_delivery_regardless_of_priority(harness: Harness, xml: str) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/neg", priority=-10)
    other = harness.bind("bob@localhost/other", priority=10)
    await harness.route(xml, alice)
    delivered = only(bob)
    assert delivered.attrs["from"] == "alice@localhost/a"
    assert other.received == [] and alice.received == []


@pytest.mark.parametrize("msg_type", ["chat", "normal", "headline"])
async def test_r31_missing_resource_falls_back_to_bare_jid(harness: Harness, msg_type: str) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/present")
    await harness.route(f"<message to='bob@localhost/gone' type='{msg_type}'><body>x</body></message>", alice)
    assert len(bob.take()) == 1 and alice.received == []


async def test_r32_groupchat_to_missing_resource_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<message to='bob@localhost/gone' type='groupchat'><body>x</body></message>", alice)
    assert condition(only(alice)) == "service-unavailable"


async def test_r33_error_message_to_missing_resource_is_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/present")
    await harness.route(
        "<message to='bob@localhost/gone' type='error'><error type='cancel'/></message>", alice
    )
    assert alice.received == [] and bob.received == []


@pytest.mark.parametrize(
    "xml",
    ["<presence to='bob@localhost/gone'/>", "<presence to='bob@localhost/gone' type='unavailable'/>"],
)
async def test_r34_presence_to_missing_resource_is_dropped(harness: Harness, xml: str) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/present")
    await harness.route(xml, alice)
    assert alice.received == [] and bob.received == []


async def test_r35_subscription_to_full_jid_is_handled_as_bare(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    b1 = harness.bind("bob@localhost/1")
    b2 = harness.bind("bob@localhost/2")
    await harness.route("<presence to='bob@localhost/1' type='subscribe'/>", alice)
    assert len(b1.take()) == 1 and len(b2.take()) == 1


async def test_r36_iq_to_missing_resource_is_service_unavailable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(
        "<iq type='get' id='m1' to='bob@localhost/gone'><query xmlns='urn:example:x'/></iq>", alice
    )
    assert condition(only(alice)) == "service-unavailable"


async def test_r37_iq_result_to_missing_resource_is_dropped(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<iq type='result' id='m2' to='bob@localhost/gone'/>", alice)
    assert alice.received == []
