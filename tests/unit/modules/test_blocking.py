"""XEP-0191: the block list (get, block, unblock, unblock all), its pushes, and what it blocks in both directions."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.errors import StanzaError, StorageError
from xmppd.host import Host
from xmppd.jid import JID, covers
from xmppd.modules import blocking as blocking_module
from xmppd.modules import loader
from xmppd.modules.blocking import STORE, Blocking, is_blocked
from xmppd.routing.router import StanzaContext
from xmppd.storage import open_storage
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_BLOCKING, NS_BLOCKING_ERRORS, NS_DISCO_INFO, NS_STANZAS

GET = "<iq type='get' id='get1'{to}><blocklist xmlns='urn:xmpp:blocking'/></iq>"
CHAT = "<message to='{to}' type='{type}' id='m1'><body>hi</body></message>"


def command(action: str, *jids: str, iq_id: str = "set1", to: str | None = None) -> str:
    items = "".join(f"<item jid='{jid}'/>" for jid in jids)
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='set' id='{iq_id}'{to_attr}><{action} xmlns='urn:xmpp:blocking'>{items}</{action}></iq>"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "blocking"))
    for name in ("alice", "bob", "carol"):
        await h.add_account(name)
    yield h
    await h.close()


def module(harness: Harness) -> Blocking:
    found = harness.host.modules["blocking"]
    assert isinstance(found, Blocking)
    return found


async def settle(harness: Harness) -> None:
    """Let the routing tasks and the pushes scheduled after the results run."""
    await harness.router.drain()
    await asyncio.sleep(0)
    await harness.router.drain()


async def get_list(harness: Harness, session: FakeSession, to: str | None = None) -> list[str]:
    await harness.route(GET.format(to=f" to='{to}'" if to else ""), session)
    result = only(session)
    assert result.attrs["type"] == "result" and result.attrs["id"] == "get1", result
    blocklist = result.find("blocklist", NS_BLOCKING)
    assert blocklist is not None
    return [item.attrs["jid"] for item in blocklist.find_all("item", NS_BLOCKING)]


async def change(harness: Harness, session: FakeSession, action: str, *jids: str) -> None:
    """Send a block or unblock command and check its empty result (pushes are left in the session)."""
    await harness.route(command(action, *jids), session)
    await settle(harness)
    result = session.received.pop(0)
    assert result.attrs["type"] == "result" and result.attrs["id"] == "set1" and result.children == [], result


async def stored(harness: Harness, username: str = "alice") -> dict[str, bytes | None]:
    keyval = harness.storage.keyval
    return {
        key: await keyval.get("localhost", username, STORE, key)
        for key in await keyval.keys("localhost", username, STORE)
    }


def push_items(push: Element, action: str) -> list[str]:
    assert push.name == "iq" and push.attrs["type"] == "set" and push.attrs["id"], push
    assert "from" not in push.attrs
    payload = push.find(action, NS_BLOCKING)
    assert payload is not None and len(push.elements()) == 1, push
    return [item.attrs["jid"] for item in payload.find_all("item", NS_BLOCKING)]


def error_parts(stanza: Element) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    error = stanza.find("error")
    assert error is not None, stanza
    return condition(stanza), error.attrs.get("type"), [(child.ns, child.name) for child in error.elements()]


# -- discovery and the list (sections 3.1 and 3.2) ------------------------------------------------------------


async def test_disco_advertises_blocking_on_the_server_and_the_account(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in ("localhost", "alice@localhost"):
        await harness.route(f"<iq type='get' id='d' to='{to}'><query xmlns='{NS_DISCO_INFO}'/></iq>", alice)
        query = only(alice).find("query", NS_DISCO_INFO)
        assert query is not None
        assert NS_BLOCKING in {feature.attrs["var"] for feature in query.find_all("feature")}
    await loader.unload(harness.host, "blocking")
    assert NS_BLOCKING not in harness.host.features and NS_BLOCKING not in harness.host.account_features
    assert harness.host.filters_in == [] and harness.host.filters_out == []


async def test_empty_list_then_block_and_retrieve(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    assert await get_list(harness, alice) == []
    await change(harness, alice, "block", "Romeo@Montague.net", "iago@shakespeare.lit", "romeo@montague.net")
    assert push_items(only(alice), "block") == ["romeo@montague.net", "iago@shakespeare.lit"]
    for to in (None, "alice@localhost"):
        assert await get_list(harness, alice, to) == ["iago@shakespeare.lit", "romeo@montague.net"]
    assert await stored(harness) == {"iago@shakespeare.lit": b"", "romeo@montague.net": b""}


async def test_only_the_owner_reads_or_changes_a_list(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await change(harness, alice, "block", "mallory@evil.example")
    alice.take()
    await harness.route(GET.format(to=" to='alice@localhost'"), bob)
    assert condition(only(bob)) == "service-unavailable"
    for action in ("block", "unblock"):
        await harness.route(command(action, "carol@localhost", to="alice@localhost"), bob)
        assert condition(only(bob)) == "service-unavailable"
    assert await stored(harness) == {"mallory@evil.example": b""}
    assert alice.received == []


# -- block, unblock, unblock all, and their pushes (sections 3.3 to 3.5) ----------------------------------------


async def test_pushes_go_to_every_interested_resource_after_the_result(harness: Harness) -> None:
    first = harness.bind("alice@localhost/a")
    second = harness.bind("alice@localhost/b")
    quiet = harness.bind("alice@localhost/c")  # never asked for the list: no pushes
    await get_list(harness, first)
    await get_list(harness, second)
    await harness.route(command("block", "bob@localhost"), first)
    await settle(harness)
    result, push = first.take()
    assert result.attrs["type"] == "result" and result.attrs["id"] == "set1"
    assert push.attrs["to"] == "alice@localhost/a" and push_items(push, "block") == ["bob@localhost"]
    (push,) = second.take()
    assert push.attrs["to"] == "alice@localhost/b" and push_items(push, "block") == ["bob@localhost"]
    assert quiet.received == []
    # A command from a resource that never asked: the others still get the push, it does not.
    await change(harness, quiet, "unblock", "bob@localhost")
    assert quiet.received == []
    assert push_items(only(first), "unblock") == ["bob@localhost"]
    assert push_items(only(second), "unblock") == ["bob@localhost"]


async def test_unblock_items_and_unblock_all(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await get_list(harness, alice)
    await change(harness, alice, "block", "bob@localhost", "carol@localhost", "example.org")
    alice.take()
    await change(harness, alice, "unblock", "carol@localhost", "never@blocked.example")
    assert push_items(only(alice), "unblock") == ["carol@localhost", "never@blocked.example"]
    assert await stored(harness) == {"bob@localhost": b"", "example.org": b""}
    await change(harness, alice, "unblock")
    assert push_items(only(alice), "unblock") == []  # section 3.5: the empty <unblock/> means all
    assert await stored(harness) == {}
    assert await get_list(harness, alice) == []


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (command("block"), "bad-request"),  # section 3.3: at least one <item/>
        ("<iq type='set' id='set1'><block xmlns='urn:xmpp:blocking'><item/></block></iq>", "bad-request"),
        (command("block", "bob@localhost", "@localhost"), "jid-malformed"),
        (command("block", "bob@localhost/"), "jid-malformed"),
        (command("unblock", "bob@localhost", "a@b@c"), "jid-malformed"),
    ],
)
async def test_bad_commands_are_refused_and_change_nothing(harness: Harness, xml: str, expected: str) -> None:
    alice = harness.bind("alice@localhost/a")
    await get_list(harness, alice)
    await change(harness, alice, "block", "carol@localhost")
    alice.take()
    await harness.route(xml, alice)
    await settle(harness)
    assert condition(only(alice)) == expected
    assert await stored(harness) == {"carol@localhost": b""}


async def test_a_list_is_limited_to_max_items() -> None:
    harness = await Harness.create(modules=("blocking",), configs={"blocking": Blocking.Config(max_items=2)})
    try:
        alice = harness.bind("alice@localhost/a")
        await harness.route(command("block", "a@x.example", "b@x.example", "c@x.example"), alice)
        assert condition(only(alice)) == "policy-violation"
        await change(harness, alice, "block", "a@x.example", "b@x.example")
        await change(harness, alice, "block", "a@x.example")  # already there: still two
        await harness.route(command("block", "c@x.example"), alice)
        assert condition(only(alice)) == "policy-violation"
        assert await stored(harness) == {"a@x.example": b"", "b@x.example": b""}
    finally:
        await harness.close()


async def test_concurrent_commands_from_two_resources_both_count(harness: Harness) -> None:
    first = harness.bind("alice@localhost/a")
    second = harness.bind("alice@localhost/b")
    for session, jid in ((first, "x@one.example"), (second, "y@two.example"), (first, "z@three.example")):
        stanza = parse(command("block", jid))
        stanza.attrs["from"] = str(session.jid)
        harness.router.route(stanza, session)
    await settle(harness)
    assert [r.attrs["type"] for r in first.take() + second.take()] == ["result"] * 3
    assert sorted(await stored(harness)) == ["x@one.example", "y@two.example", "z@three.example"]
    assert await get_list(harness, first) == ["x@one.example", "y@two.example", "z@three.example"]


# -- the hook for the presence module (sections 3.3 and 3.4) --------------------------------------------------


async def test_block_list_changed_reports_real_changes_after_storing_them(harness: Harness) -> None:
    events: list[tuple[tuple[str, ...], tuple[str, ...], list[str]]] = []

    async def record(event: hooks.BlockListChanged) -> None:
        assert event.host == "localhost" and event.username == "alice"
        events.append((event.blocked, event.unblocked, sorted(await stored(harness))))
        # What the presence module does: unavailable presence to the newly blocked, presence to the unblocked.
        for jid in event.blocked:
            harness.router.route(parse(f"<presence type='unavailable' from='alice@localhost/a' to='{jid}'/>"))
        for jid in event.unblocked:
            harness.router.route(parse(f"<presence from='alice@localhost/a' to='{jid}'/>"))

    harness.host.hooks.add(hooks.BLOCK_LIST_CHANGED, record)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await change(harness, alice, "block", "bob@localhost", "carol@localhost")
    await change(harness, alice, "block", "bob@localhost")  # nothing new
    await change(harness, alice, "unblock", "dave@localhost")  # nothing to remove
    assert events == [(("bob@localhost", "carol@localhost"), (), ["bob@localhost", "carol@localhost"])]
    (presence,) = bob.take()
    assert presence.attrs.get("type") == "unavailable"
    await change(harness, alice, "unblock")
    assert events[1] == ((), ("bob@localhost", "carol@localhost"), [])
    (presence,) = bob.take()
    assert presence.name == "presence" and "type" not in presence.attrs


# -- enforcement (section 3.3) ---------------------------------------------------------------------------------


async def test_stanzas_from_a_blocked_jid_are_not_delivered(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    carol = harness.bind("carol@localhost/c")
    await change(harness, alice, "block", "bob@localhost")
    for to in ("alice@localhost", "alice@localhost/a", "alice@localhost/gone"):
        for message_type in ("chat", "normal", "headline"):
            await harness.route(CHAT.format(to=to, type=message_type), bob)
            error = only(bob)
            assert error.attrs["from"] == to and error.attrs["to"] == "bob@localhost/b"
            assert error_parts(error)[:2] == ("service-unavailable", "cancel")
        await harness.route(f"<iq type='get' id='i1' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>", bob)
        assert condition(only(bob)) == "service-unavailable"
    silently = [
        CHAT.format(to="alice@localhost", type="error"),
        "<iq type='result' id='r1' to='alice@localhost/a'/>",
        "<iq type='error' id='r2' to='alice@localhost/a'/>",
        "<presence to='alice@localhost/a'/>",
        "<presence to='alice@localhost'><show>chat</show></presence>",
        "<presence to='alice@localhost' type='unavailable'/>",
        "<presence to='alice@localhost' type='subscribe'/>",
        "<presence to='alice@localhost' type='probe'/>",
        "<presence to='alice@localhost' type='error'/>",
    ]
    for xml in silently:
        await harness.route(xml, bob)
        assert bob.received == [], xml
    assert alice.received == []
    # Someone else is not blocked.
    await harness.route(CHAT.format(to="alice@localhost", type="chat"), carol)
    assert only(alice).attrs["from"] == "carol@localhost/c"


async def test_stanzas_to_a_blocked_jid_are_refused_with_not_acceptable(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await change(harness, alice, "block", "bob@localhost")
    blocked = [(NS_STANZAS, "not-acceptable"), (NS_BLOCKING_ERRORS, "blocked")]
    for xml in (
        CHAT.format(to="bob@localhost", type="chat"),
        CHAT.format(to="bob@localhost/b", type="headline"),
        "<iq type='get' id='i1' to='bob@localhost/b'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='set' id='i2' to='bob@localhost'><query xmlns='jabber:iq:private'/></iq>",
    ):
        stanza = await harness.route(xml, alice)
        error = only(alice)
        # As in the XEP's example: from the blocked JID, type cancel, with the blocking condition.
        assert error.name == stanza.name and error.attrs["id"] == stanza.attrs["id"]
        assert error.attrs["from"] == stanza.attrs["to"] and error.attrs["to"] == "alice@localhost/a"
        assert error_parts(error) == ("not-acceptable", "cancel", blocked)
    for xml in (
        "<presence to='bob@localhost/b'/>",
        "<presence to='bob@localhost' type='subscribe'/>",
        "<iq type='result' id='r1' to='bob@localhost/b'/>",
        CHAT.format(to="bob@localhost", type="error"),
    ):
        await harness.route(xml, alice)
        assert alice.received == [], xml
    assert bob.received == []
    # Unavailable presence only says "offline", which is what bob must see: it passes.
    await harness.route("<presence to='bob@localhost/b' type='unavailable'/>", alice)
    assert only(bob).attrs["type"] == "unavailable"


async def test_presence_the_server_sends_for_the_user_stays_away_from_blocked_jids(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    carol = harness.bind("carol@localhost/c")
    await change(harness, alice, "block", "bob@localhost")
    for to in ("bob@localhost", "carol@localhost"):
        harness.router.route(
            parse(f"<presence from='alice@localhost/a' to='{to}'><show>dnd</show></presence>")
        )
        harness.router.route(parse(f"<message from='alice@localhost' to='{to}' type='chat'/>"))
    await settle(harness)
    assert bob.received == [] and len(carol.take()) == 2
    assert alice.received == []  # nobody to tell: the server sent them


@pytest.mark.parametrize(
    ("item", "matching", "not_matching"),
    [
        (
            "romeo@montague.net/orchard",
            ["romeo@montague.net/orchard"],
            ["romeo@montague.net", "romeo@montague.net/x"],
        ),
        ("romeo@montague.net", ["romeo@montague.net", "romeo@montague.net/orchard"], ["juliet@montague.net"]),
        (
            "montague.net/orchard",
            ["montague.net/orchard", "romeo@montague.net/orchard", "tybalt@montague.net/orchard"],
            ["montague.net", "romeo@montague.net", "romeo@montague.net/balcony", "capulet.com/orchard"],
        ),
        (
            "montague.net",
            ["montague.net", "montague.net/x", "romeo@montague.net", "romeo@montague.net/orchard"],
            ["chat.montague.net", "montague.net.example", "romeo@capulet.com"],
        ),
    ],
)
def test_jid_matching_follows_section_6(item: str, matching: list[str], not_matching: list[str]) -> None:
    blocked = frozenset({JID.parse(item)})
    for address in matching:
        assert is_blocked(blocked, JID.parse(address)), address
    for address in not_matching:
        assert not is_blocked(blocked, JID.parse(address)), address
    assert not is_blocked(frozenset(), JID.parse(item))


async def test_a_blocked_domain_or_full_jid_through_the_router(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob_phone = harness.bind("bob@localhost/phone")
    bob_desk = harness.bind("bob@localhost/desk")
    await change(harness, alice, "block", "bob@localhost/phone")
    await harness.route(CHAT.format(to="alice@localhost", type="chat"), bob_phone)
    assert condition(only(bob_phone)) == "service-unavailable"
    await harness.route(CHAT.format(to="alice@localhost", type="chat"), bob_desk)
    assert only(alice).attrs["from"] == "bob@localhost/desk"
    # The whole domain: every account on it, but never the user's own resources nor the server itself.
    await change(harness, alice, "block", "localhost")
    await harness.route(CHAT.format(to="alice@localhost", type="chat"), bob_desk)
    assert condition(only(bob_desk)) == "service-unavailable"
    other = harness.bind("alice@localhost/other")
    await harness.route(CHAT.format(to="alice@localhost/a", type="chat"), other)
    assert only(alice).attrs["from"] == "alice@localhost/other"
    await harness.route(f"<iq type='get' id='d' to='localhost'><query xmlns='{NS_DISCO_INFO}'/></iq>", alice)
    assert only(alice).attrs["type"] == "result"
    harness.router.route(parse("<message from='localhost' to='alice@localhost/a' type='headline'/>"))
    await settle(harness)
    assert only(alice).attrs["from"] == "localhost"


async def test_own_resources_are_never_blocked(harness: Harness) -> None:
    first = harness.bind("alice@localhost/a")
    second = harness.bind("alice@localhost/b")
    await change(harness, first, "block", "alice@localhost", "alice@localhost/b")
    await harness.route(CHAT.format(to="alice@localhost/b", type="chat"), first)
    assert only(second).attrs["from"] == "alice@localhost/a"
    await harness.route(CHAT.format(to="alice@localhost/a", type="chat"), second)
    assert only(first).attrs["from"] == "alice@localhost/b"


async def test_a_list_not_cached_yet_is_read_before_deciding(harness: Harness) -> None:
    """A blocked JID writes to a user who is offline and whose list nothing has read yet."""
    await harness.storage.keyval.set("localhost", "alice", STORE, "bob@localhost", b"")
    offline: list[str] = []

    async def store(context: StanzaContext) -> hooks.Handled:
        offline.append(str(context.sender))
        return hooks.HANDLED

    harness.host.hooks.add(hooks.MESSAGE_OFFLINE, store)
    bob = harness.bind("bob@localhost/b")
    carol = harness.bind("carol@localhost/c")
    blocking = module(harness)
    alice = JID.parse("alice@localhost")
    context = StanzaContext(
        parse(CHAT.format(to=str(alice), type="chat")), bob.jid, alice, harness.host, None
    )
    pending = blocking.filter_in(context)
    assert inspect.isawaitable(pending)
    verdict = await pending
    assert isinstance(verdict, StanzaError) and verdict.condition == "service-unavailable"
    # Now cached (the list is not empty): answered at once.
    assert isinstance(blocking.filter_in(context), StanzaError)
    # Through the router, for a user whose list is read on the way.
    await harness.storage.keyval.set("localhost", "dave", STORE, "bob@localhost", b"")
    await harness.add_account("dave")
    await harness.route(CHAT.format(to="dave@localhost", type="chat"), bob)
    assert condition(only(bob)) == "service-unavailable"
    await harness.route(CHAT.format(to="dave@localhost", type="chat"), carol)
    assert carol.received == [] and offline == ["carol@localhost/c"]
    # A user who sends before anything read the list: the outbound filter reads it too.
    await harness.storage.keyval.set("localhost", "frank", STORE, "bob@localhost", b"")
    frank = harness.bind("frank@localhost/f")
    await harness.route(CHAT.format(to="bob@localhost", type="chat"), frank)
    assert condition(only(frank)) == "not-acceptable" and bob.received == []
    # An offline user with an empty list is read once, then answered at once.
    erin = JID.parse("erin@localhost")
    context = StanzaContext(parse(CHAT.format(to=str(erin), type="chat")), bob.jid, erin, harness.host, None)
    pending = blocking.filter_in(context)
    assert inspect.isawaitable(pending)
    assert await pending is None
    assert blocking.filter_in(context) is None


async def test_the_empty_lists_of_offline_users_kept_are_bounded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may write to any username: of offline users' empty lists, only the latest few are kept."""
    monkeypatch.setattr(blocking_module, "OFFLINE_EMPTY_MAX", 2)
    bob = harness.bind("bob@localhost/b")
    blocking = module(harness)

    def context_to(name: str) -> StanzaContext:
        to = JID.parse(f"{name}@localhost")
        return StanzaContext(parse(CHAT.format(to=str(to), type="chat")), bob.jid, to, harness.host, None)

    for name in ("u1", "u2", "u3"):
        pending = blocking.filter_in(context_to(name))
        assert inspect.isawaitable(pending) and await pending is None
    # u1 was forgotten (read again), u2 and u3 are answered at once.
    pending = blocking.filter_in(context_to("u1"))
    assert inspect.isawaitable(pending) and await pending is None
    assert blocking.filter_in(context_to("u3")) is None
    # A user online is never among the forgotten: its empty list stays while others come and go.
    carol = harness.bind("carol@localhost/c")
    await harness.route(CHAT.format(to="bob@localhost/b", type="chat"), carol)
    for name in ("u4", "u5", "u6"):
        pending = blocking.filter_in(context_to(name))
        if inspect.isawaitable(pending):
            assert await pending is None
    assert blocking.filter_in(context_to("carol")) is None


async def test_an_empty_list_is_answered_from_the_cache_until_a_block_changes_it(harness: Harness) -> None:
    """The common case costs no lookup: an online user's empty list is cached, and a block replaces it."""
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(CHAT.format(to="bob@localhost/b", type="chat"), alice)  # reads both lists
    assert only(bob).attrs["type"] == "chat"
    blocking = module(harness)
    context = StanzaContext(
        parse(CHAT.format(to="bob@localhost/b", type="chat")), alice.jid, bob.jid, harness.host, alice
    )
    assert (
        blocking.filter_out(context) is None and blocking.filter_in(context) is None
    )  # at once: not awaitable
    await change(harness, bob, "block", "alice@localhost")
    # The cached empty list is gone with the block: the next message is refused, in both directions.
    assert isinstance(blocking.filter_in(context), StanzaError)
    await harness.route(CHAT.format(to="bob@localhost/b", type="chat"), alice)
    assert condition(only(alice)) == "service-unavailable" and bob.received == []
    await harness.route(CHAT.format(to="alice@localhost/a", type="chat"), bob)
    assert condition(only(bob)) == "not-acceptable" and alice.received == []
    await change(harness, bob, "unblock", "alice@localhost")
    assert blocking.filter_in(context) is None
    await harness.route(CHAT.format(to="bob@localhost/b", type="chat"), alice)
    assert only(bob).attrs["type"] == "chat"


async def test_a_burst_before_the_list_is_read_costs_one_read_and_keeps_its_order(harness: Harness) -> None:
    reads: list[str] = []
    keys = harness.storage.keyval.keys

    async def counted(host: str, username: str, store: str) -> list[str]:
        if store == STORE:
            reads.append(username)
        await asyncio.sleep(0.01)
        return await keys(host, username, store)

    harness.storage.keyval.keys = counted  # type: ignore[method-assign]
    alice = harness.bind("alice@localhost/a")
    carol = harness.bind("carol@localhost/c")
    bob = harness.bind("bob@localhost/b")
    for n in range(10):
        for sender in (alice, carol):
            stanza = parse(f"<message to='bob@localhost/b' type='chat'><body>{n}</body></message>")
            stanza.attrs["from"] = str(sender.jid)
            harness.router.route(stanza, sender)
    await settle(harness)
    received = [(str(s.attrs["from"]), s.child_text("body")) for s in bob.take()]
    for sender in (alice, carol):  # in order per sender (RFC 6120 section 10.1)
        assert [body for who, body in received if who == str(sender.jid)] == [str(n) for n in range(10)]
    assert sorted(reads) == ["alice", "bob", "carol"]


async def test_an_unreadable_list_fails_closed() -> None:
    class BrokenKeyValue:
        async def keys(self, host: str, username: str, store: str) -> list[str]:
            if username == "alice":
                raise StorageError("database is down")
            return []

    storage = await open_storage("memory://")
    storage.keyval = BrokenKeyValue()  # type: ignore[assignment]
    harness = Harness(storage)
    await loader.load(harness.host, ["blocking"], {})
    try:
        bob = harness.bind("bob@localhost/b")
        await harness.route(CHAT.format(to="alice@localhost", type="chat"), bob)
        assert condition(only(bob)) == "internal-server-error"
        await harness.route("<presence to='alice@localhost' type='subscribe'/>", bob)
        assert bob.received == []
    finally:
        await harness.close()


# -- sessions and accounts --------------------------------------------------------------------------------------


async def test_a_resource_that_went_away_gets_no_more_pushes(harness: Harness) -> None:
    host: Host = harness.host
    gone = harness.bind("alice@localhost/a")
    stays = harness.bind("alice@localhost/b")
    await get_list(harness, gone)
    await get_list(harness, stays)
    harness.sessions.unbind(gone)
    await host.hooks.fire(hooks.RESOURCE_UNBOUND, gone)
    back = harness.bind("alice@localhost/a")  # the same resource again, which has not asked
    await change(harness, stays, "block", "bob@localhost")
    assert push_items(only(stays), "block") == ["bob@localhost"]
    assert gone.received == [] and back.received == []
    # A session replaced by a new one (no unbound hook for it) gets nothing either, nor does its successor.
    await get_list(harness, back)
    successor = harness.bind("alice@localhost/a")
    await change(harness, stays, "unblock")
    assert back.received == [] and successor.received == []
    assert push_items(only(stays), "unblock") == []
    assert module(harness)._interested.keys() == {JID.parse("alice@localhost")}
    for session in (stays, successor):
        harness.sessions.unbind(session)
        await host.hooks.fire(hooks.RESOURCE_UNBOUND, session)
    assert module(harness)._interested == {}


async def test_account_deletion_removes_the_list(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.storage.keyval.set("localhost", "alice", "private", "other-feature", b"<x/>")
    await change(harness, alice, "block", "bob@localhost", "carol@localhost")
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert await stored(harness) == {}
    assert await harness.storage.keyval.get("localhost", "alice", "private", "other-feature") == b"<x/>"
    # Nothing of the old list is left in memory either: bob gets through to a new alice.
    await harness.route(CHAT.format(to="alice@localhost/a", type="chat"), bob)
    assert only(alice).attrs["from"] == "bob@localhost/b"
    # Another host's deletion is not ours.
    await change(harness, alice, "block", "bob@localhost")
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("elsewhere.example", "alice"))
    assert await stored(harness) == {"bob@localhost": b""}


@pytest.mark.parametrize(
    "item",
    [
        "bob@example.org/phone",
        "bob@example.org",
        "example.org/phone",
        "example.org",
        "eve@example.org",
        "other.org",
    ],
)
@pytest.mark.parametrize(
    "address",
    [
        "bob@example.org/phone",
        "bob@example.org/desk",
        "bob@example.org",
        "eve@example.org/phone",
        "example.org",
        "example.org/phone",
        "bob@other.org/phone",
    ],
)
def test_the_fast_lookup_agrees_with_the_matching_rule(item: str, address: str) -> None:
    assert is_blocked(frozenset({JID.parse(item)}), JID.parse(address)) == covers(
        JID.parse(item), JID.parse(address)
    )
