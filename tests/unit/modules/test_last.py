"""XEP-0012: server uptime, and a user's last activity for the user and subscribed contacts only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import Harness
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.modules.last import decode_logout, encode_logout
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_LAST


def query(to: str | None = None, iq_id: str = "l1") -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='get' id='{iq_id}'{to_attr}><query xmlns='jabber:iq:last'/></iq>"


class Roster:
    """Stands in for the roster module: answers SUBSCRIPTION_QUERY from a set of (user, contact) pairs."""

    def __init__(self) -> None:
        self.subscriptions: set[tuple[str, str]] = set()
        self.asked: list[hooks.SubscriptionQuery] = []

    async def answer(self, question: hooks.SubscriptionQuery, subscribed: bool) -> bool:
        self.asked.append(question)
        return subscribed or (question.username, question.contact) in self.subscriptions


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "last"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


@pytest.fixture
def roster(harness: Harness) -> Roster:
    fake = Roster()
    harness.host.hooks.add(hooks.SUBSCRIPTION_QUERY, fake.answer)
    return fake


def answer(result: Element) -> tuple[int, str]:
    assert result.attrs["type"] == "result", result
    payload = result.find("query", NS_LAST)
    assert payload is not None
    return int(payload.attrs["seconds"]), payload.text


async def test_server_uptime(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(query("localhost"), alice)
    result = only(alice)
    seconds, text = answer(result)
    assert 0 <= seconds < 5 and text == ""
    assert result.attrs["from"] == "localhost"


async def test_own_query_while_available_is_zero(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in (None, "alice@localhost"):
        await harness.route(query(to), alice)
        assert answer(only(alice)) == (0, "")


async def test_unsubscribed_requester_is_forbidden(harness: Harness, roster: Roster) -> None:
    harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    error = only(bob)
    assert condition(error) == "forbidden"
    assert roster.asked == [hooks.SubscriptionQuery("localhost", "alice", "bob@localhost")]


async def test_without_a_roster_nobody_else_may_ask(harness: Harness) -> None:
    harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    assert condition(only(bob)) == "forbidden"


async def test_subscribed_contact_sees_zero_while_available(harness: Harness, roster: Roster) -> None:
    roster.subscriptions.add(("alice", "bob@localhost"))
    harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    result = only(bob)
    assert answer(result) == (0, "")
    assert result.attrs["from"] == "alice@localhost"


async def test_logout_is_recorded_with_its_status(harness: Harness, roster: Roster) -> None:
    roster.subscriptions.add(("alice", "bob@localhost"))
    alice = harness.bind("alice@localhost/a")
    before = int(time.time())
    await harness.route("<presence type='unavailable'><status>Heading Home</status></presence>", alice)
    stored = await harness.storage.keyval.get("localhost", "alice", "last", "logout")
    assert stored is not None
    stamp, status = decode_logout(stored)
    assert before <= stamp <= int(time.time()) and status == "Heading Home"
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    seconds, text = answer(only(bob))
    assert 0 <= seconds <= 2 and text == "Heading Home"


async def test_seconds_count_from_the_logout(harness: Harness, roster: Roster) -> None:
    roster.subscriptions.add(("alice", "bob@localhost"))
    logout = encode_logout(int(time.time()) - 903, "")
    await harness.storage.keyval.set("localhost", "alice", "last", "logout", logout)
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    seconds, text = answer(only(bob))
    assert 903 <= seconds <= 905 and text == ""
    # The user asks too: an own query needs no subscription.
    alice = harness.bind("alice@localhost/a", available=False)
    await harness.route(query(), alice)
    assert 903 <= answer(only(alice))[0] <= 905


async def test_no_record_is_item_not_found(harness: Harness, roster: Roster) -> None:
    roster.subscriptions.add(("alice", "bob@localhost"))
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost"), bob)
    assert condition(only(bob)) == "item-not-found"


async def test_unavailable_with_another_resource_available_is_not_a_logout(harness: Harness) -> None:
    phone = harness.bind("alice@localhost/phone")
    desk = harness.bind("alice@localhost/desk")
    await harness.route("<presence type='unavailable'><status>phone off</status></presence>", phone)
    assert await harness.storage.keyval.get("localhost", "alice", "last", "logout") is None
    await harness.route("<presence type='unavailable'><status>bye</status></presence>", desk)
    stored = await harness.storage.keyval.get("localhost", "alice", "last", "logout")
    assert stored is not None and decode_logout(stored)[1] == "bye"


async def test_available_presence_records_nothing(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a", available=False)
    await harness.route("<presence><status>here</status></presence>", alice)
    assert await harness.storage.keyval.get("localhost", "alice", "last", "logout") is None


async def test_unknown_account_is_service_unavailable(harness: Harness) -> None:
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("nobody@localhost"), bob)
    assert condition(only(bob)) == "service-unavailable"


async def test_set_is_not_a_request_it_answers(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route("<iq type='set' id='x' to='localhost'><query xmlns='jabber:iq:last'/></iq>", alice)
    assert condition(only(alice)) == "service-unavailable"


async def test_full_jid_query_from_a_subscribed_contact_goes_to_the_client(
    harness: Harness, roster: Roster
) -> None:
    roster.subscriptions.add(("alice", "bob@localhost"))
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("alice@localhost/a"), bob)
    assert bob.take() == []
    delivered = only(alice)
    assert delivered.attrs["type"] == "get" and delivered.find("query", NS_LAST) is not None


async def test_full_jid_query_from_another_own_resource_goes_to_the_client(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    phone = harness.bind("alice@localhost/phone")
    await harness.route(query("alice@localhost/a"), phone)
    assert only(alice).find("query", NS_LAST) is not None


@pytest.mark.parametrize("resource", ["a", "not-there"])
async def test_full_jid_query_from_an_unauthorized_entity_is_forbidden(
    harness: Harness, roster: Roster, resource: str
) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query(f"alice@localhost/{resource}"), bob)
    assert condition(only(bob)) == "forbidden"
    assert alice.take() == []
    assert roster.asked == [hooks.SubscriptionQuery("localhost", "alice", "bob@localhost")]
    # Other queries to the full JID are not the module's business.
    await harness.route(
        "<iq type='get' id='p' to='alice@localhost/a'><ping xmlns='urn:xmpp:ping'/></iq>", bob
    )
    assert only(alice).attrs["id"] == "p"


async def test_disco_advertises_the_namespace(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in ("localhost", "alice@localhost"):
        await harness.route(
            f"<iq type='get' id='d' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            alice,
        )
        payload = only(alice).find("query", NS_DISCO_INFO)
        assert payload is not None
        assert NS_LAST in {f.attrs["var"] for f in payload.find_all("feature")}


async def test_account_deletion_removes_the_record(harness: Harness) -> None:
    await harness.storage.keyval.set("localhost", "alice", "last", "logout", encode_logout(1, "x"))
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert await harness.storage.keyval.get("localhost", "alice", "last", "logout") is None


def test_logout_encoding_round_trip() -> None:
    assert decode_logout(encode_logout(1700000000, "line one\nline two")) == (
        1700000000,
        "line one\nline two",
    )
    assert decode_logout(encode_logout(5, "")) == (5, "")
