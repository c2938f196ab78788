"""RFC 6121 section 2: roster get, set and remove, pushes, versioning, and the API the presence module uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.modules.roster import Roster
from xmppd.storage.roster import RosterItem, Subscription
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_ROSTER, NS_ROSTERVER

ALICE = "alice@localhost"
BOB = "bob@localhost"


def get(ver: str | None = None, iq_id: str = "g1", to: str | None = None) -> str:
    ver_attr = f" ver='{ver}'" if ver is not None else ""
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='get' id='{iq_id}'{to_attr}><query xmlns='jabber:iq:roster'{ver_attr}/></iq>"


def roster_set(items: str, iq_id: str = "s1", to: str | None = None) -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='set' id='{iq_id}'{to_attr}><query xmlns='jabber:iq:roster'>{items}</query></iq>"


def item(jid: str, attrs: str = "", groups: tuple[str, ...] = ()) -> str:
    body = "".join(f"<group>{group}</group>" for group in groups)
    return f"<item jid='{jid}'{attrs}>{body}</item>"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("roster",), configs={"roster": Roster.Config(max_items=3)})
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


@pytest.fixture
def roster(harness: Harness) -> Roster:
    return cast(Roster, harness.host.modules["roster"])


async def interested(harness: Harness, jid: str) -> FakeSession:
    """A bound session that has got the roster (and whose result was taken)."""
    session = harness.bind(jid)
    await harness.route(get(), session)
    assert only(session).attrs["type"] == "result"
    assert session.interested
    return session


def query_of(stanza: Element) -> Element:
    query = stanza.find("query", NS_ROSTER)
    assert query is not None, stanza
    return query


def items_of(stanza: Element) -> list[dict[str, str]]:
    return [dict(child.attrs) for child in query_of(stanza).find_all("item", NS_ROSTER)]


def groups_of(stanza: Element) -> list[list[str]]:
    return [
        [g.text for g in child.find_all("group", NS_ROSTER)] for child in query_of(stanza).find_all("item")
    ]


def is_result(stanza: Element, iq_id: str) -> bool:
    return stanza.name == "iq" and stanza.attrs["type"] == "result" and stanza.attrs["id"] == iq_id


def assert_push(stanza: Element, to: str, ver: int) -> dict[str, str]:
    """``stanza`` is a roster push to ``to`` at version ``ver``; returns its item's attributes."""
    assert stanza.name == "iq" and stanza.attrs["type"] == "set", stanza
    assert stanza.attrs["to"] == to and stanza.attrs["from"] == ALICE and stanza.attrs["id"]
    assert query_of(stanza).attrs["ver"] == str(ver)
    (pushed,) = items_of(stanza)
    return pushed


def presences(session: FakeSession) -> list[tuple[str | None, str]]:
    return [(p.attrs.get("type"), p.attrs["from"]) for p in session.take() if p.name == "presence"]


# -- roster get ------------------------------------------------------------------------------------------------


async def test_get_returns_the_roster_and_makes_the_resource_interested(
    harness: Harness, roster: Roster
) -> None:
    await roster.save_item("alice", RosterItem(BOB, name="Bob", subscription="both", groups=("b", "a")))
    await roster.save_item("alice", RosterItem("carol@example.net", ask=True, approved=True))
    alice = harness.bind(f"{ALICE}/a")
    assert not alice.interested
    await harness.route(get(), alice)
    result = only(alice)
    assert is_result(result, "g1") and result.attrs["to"] == f"{ALICE}/a"
    assert query_of(result).attrs["ver"] == "2"
    assert items_of(result) == [
        {"jid": BOB, "name": "Bob", "subscription": "both"},
        {"jid": "carol@example.net", "subscription": "none", "ask": "subscribe", "approved": "true"},
    ]
    assert groups_of(result) == [["a", "b"], []]
    assert alice.interested


async def test_an_empty_roster_has_version_zero(harness: Harness) -> None:
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(get(to=ALICE), alice)
    result = only(alice)
    assert is_result(result, "g1") and query_of(result).attrs == {"ver": "0"} and items_of(result) == []


async def test_get_with_items_is_a_bad_request(harness: Harness) -> None:
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(roster_set(item(BOB)).replace("type='set'", "type='get'"), alice)
    assert condition(only(alice)) == "bad-request"
    assert not alice.interested


async def test_another_accounts_roster_is_forbidden(harness: Harness, roster: Roster) -> None:
    await roster.save_item("bob", RosterItem(ALICE, subscription="both"))
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(get(to=BOB), alice)
    assert condition(only(alice)) == "forbidden"
    await harness.route(roster_set(item("carol@localhost"), to=BOB), alice)
    assert condition(only(alice)) == "forbidden"
    assert await roster.items("bob") == (RosterItem(ALICE, subscription="both"),)
    assert not alice.interested


# -- roster set: add and update --------------------------------------------------------------------------------


async def test_set_adds_an_item_and_pushes_it_to_interested_resources_only(
    harness: Harness, roster: Roster
) -> None:
    first = await interested(harness, f"{ALICE}/first")
    second = await interested(harness, f"{ALICE}/second")
    idle = harness.bind(f"{ALICE}/idle")  # never asked for the roster
    bob = await interested(harness, f"{BOB}/b")
    await harness.route(roster_set(item(BOB, " name='Bob'", ("Friends", "Chess"))), first)
    received = first.take()
    assert [stanza.attrs["type"] for stanza in received] == ["set", "result"]
    assert is_result(received[1], "s1")
    assert assert_push(received[0], f"{ALICE}/first", 1) == {
        "jid": BOB,
        "name": "Bob",
        "subscription": "none",
    }
    assert groups_of(received[0]) == [["Chess", "Friends"]]
    assert assert_push(only(second), f"{ALICE}/second", 1)["jid"] == BOB
    assert idle.take() == [] and bob.take() == []
    assert await roster.get_item("alice", BOB) == RosterItem(BOB, name="Bob", groups=("Chess", "Friends"))


async def test_update_replaces_name_and_groups_and_keeps_the_subscription_state(
    harness: Harness, roster: Roster
) -> None:
    await roster.save_item("alice", RosterItem(BOB, name="Bob", subscription="to", ask=True, groups=("Old",)))
    alice = await interested(harness, f"{ALICE}/a")
    # A client cannot set the subscription state: 'subscription' other than "remove", 'ask' and 'approved' are
    # ignored (RFC 6121 sections 2.1.2.1, 2.1.2.2, 2.1.5).
    attrs = " subscription='both' ask='subscribe' approved='true'"
    await harness.route(roster_set(item(BOB, attrs, ("New",))), alice)
    push, result = alice.take()
    assert is_result(result, "s1")
    assert assert_push(push, f"{ALICE}/a", 2) == {"jid": BOB, "subscription": "to", "ask": "subscribe"}
    assert groups_of(push) == [["New"]]
    assert await roster.get_item("alice", BOB) == RosterItem(
        BOB, subscription="to", ask=True, groups=("New",)
    )


async def test_a_new_item_set_with_a_subscription_starts_at_none(harness: Harness, roster: Roster) -> None:
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(roster_set(item("carol@example.net", " subscription='both' name=''")), alice)
    assert is_result(only(alice), "s1")
    assert await roster.get_item("alice", "carol@example.net") == RosterItem("carol@example.net")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (item(BOB) + item("carol@localhost"), "bad-request"),  # 2.1.5 rule 1: exactly one item
        ("", "bad-request"),
        ("<item/>", "bad-request"),  # no jid
        (item("bob@@localhost"), "jid-malformed"),
        (item(f"{BOB}/phone"), "bad-request"),  # a full JID
        (item(ALICE), "not-allowed"),  # the user's own JID
        (item(BOB, " name='" + "n" * 21 + "'"), "not-acceptable"),  # 2.3.3: name over the limit
        (item(BOB, groups=("g" * 21,)), "not-acceptable"),  # 2.3.3: group over the limit
        (item(BOB, groups=("",)), "not-acceptable"),  # 2.3.3: empty group
        (item(BOB, groups=("Friends", "Friends")), "bad-request"),  # 2.3.3: duplicate groups
        ("<x xmlns='urn:example'/>", "bad-request"),
    ],
)
async def test_invalid_roster_sets(items: str, expected: str) -> None:
    config = Roster.Config(max_name_length=20, max_group_length=20)
    harness = await Harness.create(modules=("roster",), configs={"roster": config})
    try:
        await harness.add_account("alice")
        alice = await interested(harness, f"{ALICE}/a")
        await harness.route(roster_set(items), alice)
        assert condition(only(alice)) == expected
        assert await cast(Roster, harness.host.modules["roster"]).items("alice") == ()
    finally:
        await harness.close()


async def test_names_and_groups_at_the_limit_are_accepted() -> None:
    config = Roster.Config(max_name_length=20, max_group_length=20)
    harness = await Harness.create(modules=("roster",), configs={"roster": config})
    try:
        await harness.add_account("alice")
        alice = harness.bind(f"{ALICE}/a")
        await harness.route(roster_set(item(BOB, " name='" + "n" * 20 + "'", ("g" * 20,))), alice)
        assert is_result(only(alice), "s1")
    finally:
        await harness.close()


async def test_a_full_roster_refuses_new_items_but_not_updates(harness: Harness, roster: Roster) -> None:
    for contact in ("a@example.net", "b@example.net", "c@example.net"):
        await roster.save_item("alice", RosterItem(contact))
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(roster_set(item("d@example.net")), alice)
    assert condition(only(alice)) == "not-allowed"
    await harness.route(roster_set(item("c@example.net", " name='C'")), alice)
    assert is_result(only(alice), "s1")
    await harness.route(roster_set(item("c@example.net", " subscription='remove'")), alice)
    assert is_result(only(alice), "s1")
    await harness.route(roster_set(item("d@example.net")), alice)
    assert is_result(only(alice), "s1")


# -- roster set: remove (section 2.5) --------------------------------------------------------------------------


async def test_removing_an_unknown_item_is_item_not_found(harness: Harness) -> None:
    alice = await interested(harness, f"{ALICE}/a")
    await harness.route(roster_set(item(BOB, " subscription='remove'")), alice)
    assert condition(only(alice)) == "item-not-found"


@pytest.mark.parametrize(
    ("stored", "pending", "expected"),
    [
        # 2.5.2: unsubscribe when the user is subscribed to the contact or asked to be; unsubscribed (after
        # unavailable presence from each available resource, RFC 6121 3.2.2) when the contact is subscribed
        # to the user; unsubscribed refuses the contact's unanswered request.
        (RosterItem(BOB, subscription="both"), False, ["unsubscribe", "unavailable", "unsubscribed"]),
        (RosterItem(BOB, subscription="to"), False, ["unsubscribe"]),
        (RosterItem(BOB, subscription="from"), False, ["unavailable", "unsubscribed"]),
        (RosterItem(BOB, subscription="none", ask=True), False, ["unsubscribe"]),
        (RosterItem(BOB, subscription="none"), True, ["unsubscribed"]),
        (RosterItem(BOB, subscription="to"), True, ["unsubscribe", "unsubscribed"]),
        (RosterItem(BOB, subscription="none", approved=True), False, []),
    ],
)
async def test_removal_pushes_and_cancels_the_subscriptions(
    harness: Harness, roster: Roster, stored: RosterItem, pending: bool, expected: list[str]
) -> None:
    await roster.save_item("alice", stored)
    if pending:
        assert await roster.add_pending("alice", BOB, b"<presence type='subscribe'/>")
    alice = await interested(harness, f"{ALICE}/a")
    other = await interested(harness, f"{ALICE}/b")
    other.available = False  # only available resources send unavailable presence
    # Bob is available: without a presence module, subscription presence reaches his resources.
    bob = harness.bind(f"{BOB}/phone")
    await harness.route(roster_set(item(BOB, " subscription='remove'")), alice)
    push, result = alice.take()
    assert is_result(result, "s1")
    assert assert_push(push, f"{ALICE}/a", 2) == {"jid": BOB, "subscription": "remove"}
    assert assert_push(only(other), f"{ALICE}/b", 2) == {"jid": BOB, "subscription": "remove"}
    received = bob.take()
    assert [p.attrs.get("type") for p in received] == expected
    for presence in received:
        sender = f"{ALICE}/a" if presence.attrs["type"] == "unavailable" else ALICE
        assert presence.attrs["from"] == sender and presence.attrs["to"] == BOB
    assert await roster.items("alice") == ()
    assert await roster.pending("alice") == []


# -- pushes ----------------------------------------------------------------------------------------------------


async def test_push_results_from_clients_are_dropped(harness: Harness, roster: Roster) -> None:
    alice = await interested(harness, f"{ALICE}/a")
    await roster.save_item("alice", RosterItem(BOB))
    push = only(alice)
    # Clients answer pushes to the bare JID they came from, or with no 'to' (docs/routing.md R28).
    await harness.route(f"<iq type='result' id='{push.attrs['id']}' to='{ALICE}'/>", alice)
    await harness.route(f"<iq type='result' id='{push.attrs['id']}'/>", alice)
    await harness.route(f"<iq type='error' id='{push.attrs['id']}' to='{ALICE}'/>", alice)
    assert alice.take() == []


async def test_api_changes_are_pushed_and_drop_item_sends_no_presence(
    harness: Harness, roster: Roster
) -> None:
    alice = await interested(harness, f"{ALICE}/a")
    bob = harness.bind(f"{BOB}/phone")
    await roster.save_item("alice", RosterItem(BOB, subscription="both", groups=("z", "a", "z")))
    assert await roster.get_item("alice", BOB) == RosterItem(BOB, subscription="both", groups=("a", "z"))
    assert assert_push(only(alice), f"{ALICE}/a", 1) == {"jid": BOB, "subscription": "both"}
    await roster.drop_item("alice", BOB)
    assert assert_push(only(alice), f"{ALICE}/a", 2) == {"jid": BOB, "subscription": "remove"}
    await roster.drop_item("alice", BOB)  # nothing left to drop: no push
    await harness.router.drain()
    assert alice.take() == [] and bob.take() == []


async def test_pending_requests_api(roster: Roster) -> None:
    assert await roster.add_pending("alice", BOB, b"<presence type='subscribe'/>")
    assert not await roster.add_pending("alice", BOB, b"<presence type='subscribe'/>")
    assert await roster.add_pending("alice", "carol@example.net", b"<presence/>")
    assert [request.jid for request in await roster.pending("alice")] == [BOB, "carol@example.net"]
    assert await roster.remove_pending("alice", BOB)
    assert not await roster.remove_pending("alice", BOB)
    assert [request.jid for request in await roster.pending("alice")] == ["carol@example.net"]


async def test_concurrent_changes_are_pushed_in_version_order(harness: Harness, roster: Roster) -> None:
    alice = await interested(harness, f"{ALICE}/a")
    contacts = [f"c{index}@example.net" for index in range(30)]
    await asyncio.gather(*(roster.save_item("alice", RosterItem(contact)) for contact in contacts))
    versions = [int(query_of(push).attrs["ver"]) for push in alice.take()]
    assert versions == list(range(1, 31))
    assert roster._locks == {}  # forgotten once idle


# -- versioning (section 2.6) ----------------------------------------------------------------------------------


def test_the_rosterver_stream_feature_is_declared() -> None:
    assert (NS_ROSTERVER, "ver") in Roster.stream_features
    assert NS_ROSTERVER == "urn:xmpp:features:rosterver"


async def test_get_with_the_current_version_is_an_empty_result(harness: Harness, roster: Roster) -> None:
    await roster.save_item("alice", RosterItem(BOB))
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(get(ver="1"), alice)
    result = only(alice)
    assert is_result(result, "g1") and result.children == []
    assert alice.interested
    await roster.save_item("alice", RosterItem("carol@example.net"))
    assert assert_push(only(alice), f"{ALICE}/a", 2)["jid"] == "carol@example.net"


async def test_get_with_an_older_version_gets_the_changes_as_pushes(harness: Harness, roster: Roster) -> None:
    await roster.save_item("alice", RosterItem(BOB))  # 1
    await roster.save_item("alice", RosterItem("carol@example.net"))  # 2
    await roster.save_item("alice", RosterItem("dave@example.net"))  # 3
    await roster.drop_item("alice", "carol@example.net")  # 4
    await roster.save_item("alice", RosterItem(BOB, name="Bobby"))  # 5
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(get(ver="1"), alice)
    result, *pushes = alice.take()
    assert is_result(result, "g1") and result.children == []
    # One push per changed item, its latest change, in version order.
    assert [assert_push(push, f"{ALICE}/a", ver) for push, ver in zip(pushes, (3, 4, 5), strict=True)] == [
        {"jid": "dave@example.net", "subscription": "none"},
        {"jid": "carol@example.net", "subscription": "remove"},
        {"jid": BOB, "name": "Bobby", "subscription": "none"},
    ]
    assert alice.interested


async def test_a_change_during_a_versioned_get_reaches_the_client_in_order(
    harness: Harness, roster: Roster
) -> None:
    await roster.save_item("alice", RosterItem(BOB))  # 1
    await roster.save_item("alice", RosterItem("carol@example.net"))  # 2
    alice = harness.bind(f"{ALICE}/a")
    # The get and three changes start together: the changes race the result and the catch-up pushes.
    request = Element("iq", "jabber:client", {"type": "get", "id": "g1", "from": str(alice.jid)})
    request.add("query", NS_ROSTER, {"ver": "1"})
    harness.router.route(request, alice)
    changes = [roster.save_item("alice", RosterItem(f"new{index}@example.net")) for index in range(3)]
    await asyncio.gather(*changes)
    await harness.router.drain()
    result, *pushes = alice.take()
    assert is_result(result, "g1") and result.children == []
    versions = [int(query_of(push).attrs["ver"]) for push in pushes]
    assert versions == sorted(versions) and versions[-1] == 5
    seen = {items_of(push)[0]["jid"] for push in pushes}
    assert seen == {"carol@example.net", "new0@example.net", "new1@example.net", "new2@example.net"}


@pytest.mark.parametrize("ver", ["7", "", "abc", "01", "-1", " 1", "1.0", "\u0661"])
async def test_an_unknown_or_foreign_version_gets_the_whole_roster(
    harness: Harness, roster: Roster, ver: str
) -> None:
    await roster.save_item("alice", RosterItem(BOB))
    alice = harness.bind(f"{ALICE}/a")
    await harness.route(get(ver=ver), alice)
    result = only(alice)
    assert is_result(result, "g1") and query_of(result).attrs["ver"] == "1"
    assert items_of(result) == [{"jid": BOB, "subscription": "none"}]
    assert alice.interested


# -- hooks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscription", "expected"), [("from", True), ("both", True), ("to", False), ("none", False)]
)
async def test_subscription_query(
    harness: Harness, roster: Roster, subscription: Subscription, expected: bool
) -> None:
    await roster.save_item("alice", RosterItem(BOB, subscription=subscription))
    bus = harness.host.hooks
    question = hooks.SubscriptionQuery("localhost", "alice", BOB)
    assert await bus.fold(hooks.SUBSCRIPTION_QUERY, question, False) is expected
    unknown = hooks.SubscriptionQuery("localhost", "alice", "carol@example.net")
    assert await bus.fold(hooks.SUBSCRIPTION_QUERY, unknown, False) is False
    # Another host's question is not ours to answer; an earlier True stays True.
    other_host = hooks.SubscriptionQuery("example.org", "alice", BOB)
    assert await bus.fold(hooks.SUBSCRIPTION_QUERY, other_host, False) is False
    assert await bus.fold(hooks.SUBSCRIPTION_QUERY, unknown, True) is True


async def test_account_deletion_unsubscribes_every_contact(harness: Harness, roster: Roster) -> None:
    await harness.add_account("carol")
    await roster.save_item("alice", RosterItem(BOB, subscription="both"))
    await roster.save_item("alice", RosterItem("carol@localhost", subscription="none", ask=True))
    await roster.save_item("alice", RosterItem("dave@localhost"))
    await roster.add_pending("alice", "erin@localhost", b"<presence type='subscribe'/>")
    watchers = {name: harness.bind(f"{name}@localhost/r") for name in ("bob", "carol", "dave", "erin")}
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    await harness.router.drain()
    assert presences(watchers["bob"]) == [("unsubscribe", ALICE), ("unsubscribed", ALICE)]
    assert presences(watchers["carol"]) == [("unsubscribe", ALICE)]
    assert presences(watchers["dave"]) == []
    assert presences(watchers["erin"]) == [("unsubscribed", ALICE)]
    # The data goes with the rest of the account's (Storage.delete_user), after the hook.
    assert len(await roster.items("alice")) == 3
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("example.org", "alice"))
    await harness.router.drain()
    assert all(session.take() == [] for session in watchers.values())


async def test_set_subscription_keeps_what_the_user_set_meanwhile(harness: Harness, roster: Roster) -> None:
    """The presence module changes only the subscription fields, on the item as it is when the change is made."""
    desk = await interested(harness, f"{ALICE}/desk")
    stale = await roster.get_item("alice", BOB)
    assert stale is None
    # The user names the contact after the presence module read the (missing) item, before it saves its change.
    await roster.save_item("alice", RosterItem(BOB, name="Bob", groups=("Friends",)))
    await roster.set_subscription("alice", BOB, "to", ask=False, approved=False)
    assert await roster.get_item("alice", BOB) == RosterItem(
        BOB, name="Bob", subscription="to", groups=("Friends",)
    )
    first, second = desk.take()
    assert assert_push(first, f"{ALICE}/desk", 1)["subscription"] == "none"
    assert assert_push(second, f"{ALICE}/desk", 2) == {"jid": BOB, "name": "Bob", "subscription": "to"}
    # No change, no new version and no push.
    await roster.set_subscription("alice", BOB, "to", ask=False, approved=False)
    assert desk.take() == []
    assert (await harness.storage.roster.get_roster("localhost", "alice")).version == 2
