"""XEP-0160: offline messages stored with their arrival stamp, delivered at the next non-negative presence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.errors import StanzaError
from xmppd.jid import JID
from xmppd.modules.api import StanzaContext
from xmppd.modules.offline import Offline, should_store
from xmppd.routing.router import DROP, FilterVerdict
from xmppd.storage.offline import OfflineMessage, OfflineStore
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DELAY, NS_DISCO_INFO
from xmppd.xml.stanza import delay_stamp

BOB = "bob@localhost/b"


class SlowStore:
    """The real (memory) store, reached the way a database is: every call yields to the loop first.

    ``gate`` holds ``store`` until it is set; ``before_fetch`` runs as a fetch starts.
    """

    def __init__(self, inner: OfflineStore) -> None:
        self.inner = inner
        self.gate: asyncio.Event | None = None
        self.before_fetch: Callable[[], None] | None = None
        self.fetches = 0

    async def store(self, host: str, username: str, stamp: int, stanza: bytes, limit: int) -> bool:
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        return await self.inner.store(host, username, stamp, stanza, limit)

    async def count(self, host: str, username: str) -> int:
        return await self.inner.count(host, username)

    async def fetch(self, host: str, username: str) -> list[OfflineMessage]:
        self.fetches += 1
        if self.before_fetch is not None:
            self.before_fetch()
        await asyncio.sleep(0)
        return await self.inner.fetch(host, username)

    async def delete(self, host: str, username: str, ids: list[int]) -> int:
        await asyncio.sleep(0)
        return await self.inner.delete(host, username, ids)

    async def delete_user(self, host: str, username: str) -> int:
        return await self.inner.delete_user(host, username)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "offline"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


@pytest.fixture
def slow(harness: Harness) -> SlowStore:
    store = SlowStore(harness.storage.offline)
    harness.storage.offline = store
    return store


@pytest.fixture
def bob(harness: Harness) -> FakeSession:
    return harness.bind(BOB)


def chat(body: str, to: str = "alice@localhost", extra: str = "") -> str:
    return f"<message to='{to}' type='chat' id='m-{body}'><body>{body}</body>{extra}</message>"


async def stored(harness: Harness, user: str = "alice") -> int:
    return await harness.storage.offline.count("localhost", user)


async def come_online(harness: Harness, resource: str = "a", presence: str = "<presence/>") -> FakeSession:
    session = harness.bind(f"alice@localhost/{resource}", available=False)
    await harness.route(presence, session)
    return session


async def settle(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds, and a few turns more for what it started to finish."""
    for _ in range(1000):
        if condition():
            break
        await asyncio.sleep(0)
    assert condition()
    for _ in range(10):
        await asyncio.sleep(0)


def delays(message: Element) -> list[Element]:
    return list(message.find_all("delay", NS_DELAY))


def record_stamps(harness: Harness) -> list[int]:
    """The arrival stamps of what reaches MESSAGE_OFFLINE, seen by a handler that runs before the module's."""
    stamps: list[int] = []

    async def spy(context: StanzaContext) -> None:
        stamps.append(context.stamp)

    harness.host.hooks.add(hooks.MESSAGE_OFFLINE, spy, hooks.Priority.FIRST)
    return stamps


# -- storing and delivering ----------------------------------------------------------------------------------


async def test_messages_are_delivered_in_order_with_delay_stamps_at_initial_presence(
    harness: Harness, bob: FakeSession
) -> None:
    stamps = record_stamps(harness)
    for body in ("one", "two", "three"):
        await harness.route(chat(body), bob)
    assert bob.take() == []  # stored: no error for the sender
    assert await stored(harness) == 3

    alice = harness.bind("alice@localhost/a", available=False)
    assert alice.received == []  # not at login (XEP-0160 section 2: at presence)
    await harness.route("<presence/>", alice)
    received = alice.take()
    assert [m.child_text("body") for m in received] == ["one", "two", "three"]
    for message, stamp in zip(received, stamps, strict=True):
        assert message.attrs["from"] == BOB and message.attrs["to"] == "alice@localhost"
        assert message.attrs["type"] == "chat"
        (delay,) = delays(message)
        assert delay.attrs == {"from": "localhost", "stamp": delay_stamp(stamp)}
        assert delay.text == "Offline Storage"
        # The stamp is the time the router took the message, in UTC.
        when = datetime.strptime(delay.attrs["stamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert when.tzinfo == UTC and abs(when.timestamp() - stamp / 1e9) < 0.001
    assert await stored(harness) == 0

    # Nothing twice: the next initial presence of another session finds nothing.
    other = await come_online(harness, "b")
    assert other.take() == []


async def test_message_to_a_missing_resource_is_stored_as_addressed(
    harness: Harness, bob: FakeSession
) -> None:
    # RFC 6121 section 8.5.3.2.1: handled as if sent to the bare JID, so stored.
    await harness.route(chat("hi", to="alice@localhost/gone"), bob)
    assert bob.take() == []
    message = only(await come_online(harness))
    assert message.attrs["to"] == "alice@localhost/gone" and message.child_text("body") == "hi"


def test_delay_stamp_is_utc_xep_0082_with_milliseconds() -> None:
    stamp = int(datetime(2002, 9, 10, 23, 8, 25, 123456, UTC).timestamp()) * 10**9 + 123_456_789
    assert delay_stamp(stamp) == "2002-09-10T23:08:25.123Z"
    assert delay_stamp(0) == "1970-01-01T00:00:00.000Z"


async def test_negative_priority_session_gets_nothing_until_it_raises_its_priority(
    harness: Harness, bob: FakeSession
) -> None:
    await harness.route(chat("one"), bob)
    alice = await come_online(harness, presence="<presence><priority>-1</priority></presence>")
    assert alice.take() == []
    assert await stored(harness) == 1
    # Still negative: still waiting; and messages to the bare JID keep being stored (RFC 6121 8.5.2.2.1).
    await harness.route("<presence><show>away</show><priority>-5</priority></presence>", alice)
    await harness.route(chat("two"), bob)
    assert bob.take() == [] and alice.take() == []
    assert await stored(harness) == 2
    # XEP-0160 section 2, step 5: the next non-negative available presence gets them.
    await harness.route("<presence><priority>0</priority></presence>", alice)
    assert [m.child_text("body") for m in alice.take()] == ["one", "two"]
    assert await stored(harness) == 0
    await harness.route("<presence><priority>3</priority></presence>", alice)
    assert alice.take() == []


async def test_presence_changes_of_a_non_negative_session_deliver_nothing_more(
    harness: Harness, bob: FakeSession, slow: SlowStore
) -> None:
    alice = await come_online(harness)
    fetches = slow.fetches
    await harness.route("<presence><show>dnd</show></presence>", alice)
    await harness.route("<presence><priority>5</priority></presence>", alice)
    assert slow.fetches == fetches  # no storage read per presence change


# -- what is stored (XEP-0160 section 3, XEP-0085, XEP-0334) ------------------------------------------------

CHATSTATES = "xmlns='http://jabber.org/protocol/chatstates'"
HINTS = "xmlns='urn:xmpp:hints'"


@pytest.mark.parametrize(
    ("xml", "kept"),
    [
        (f"<message type='chat'><body>hi</body><active {CHATSTATES}/></message>", True),
        ("<message><body>hi</body></message>", True),
        ("<message type='normal'><subject>s</subject></message>", True),
        # Not a chat state: receipts and other bodiless content of normal and chat messages are kept.
        ("<message><received xmlns='urn:xmpp:receipts' id='x'/></message>", True),
        (f"<message type='chat'><composing {CHATSTATES}/></message>", False),
        (f"<message type='chat'><thread>t1</thread><paused {CHATSTATES}/></message>", False),
        (
            f"<message type='chat'><gone {CHATSTATES}/><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>",
            False,
        ),
        (f"<message><inactive {CHATSTATES}/></message>", False),
        (f"<message type='chat'><body>hi</body><no-store {HINTS}/></message>", False),
        (f"<message type='chat'><body>hi</body><no-permanent-store {HINTS}/></message>", True),
        (f"<message type='chat'><composing {CHATSTATES}/><store {HINTS}/></message>", True),
        (
            f"<message type='chat'><active {CHATSTATES}/>"
            "<encrypted xmlns='eu.siacs.conversations.axolotl'/></message>",
            True,
        ),
    ],
)
def test_what_is_worth_storing(xml: str, kept: bool) -> None:
    assert should_store(parse(xml)) is kept


async def test_chat_state_notification_is_refused_not_stored(harness: Harness, bob: FakeSession) -> None:
    await harness.route(
        f"<message to='alice@localhost' type='chat' id='c1'><composing {CHATSTATES}/></message>", bob
    )
    error = only(bob)
    assert condition(error) == "service-unavailable" and error.attrs["id"] == "c1"
    assert await stored(harness) == 0


async def test_no_store_hint_is_refused_not_stored(harness: Harness, bob: FakeSession) -> None:
    await harness.route(chat("secret", extra=f"<no-store {HINTS}/>"), bob)
    assert condition(only(bob)) == "service-unavailable"
    assert await stored(harness) == 0


async def test_store_hint_keeps_a_chat_state(harness: Harness, bob: FakeSession) -> None:
    await harness.route(
        f"<message to='alice@localhost' type='chat'><composing {CHATSTATES}/><store {HINTS}/></message>", bob
    )
    assert bob.take() == []
    assert await stored(harness) == 1


async def test_headline_groupchat_and_error_are_not_stored(harness: Harness, bob: FakeSession) -> None:
    for kind in ("headline", "groupchat", "error"):
        await harness.route(f"<message to='alice@localhost' type='{kind}'><body>x</body></message>", bob)
    assert condition(only(bob)) == "service-unavailable"  # groupchat; headline and error are ignored
    assert await stored(harness) == 0


async def test_message_to_a_nonexistent_account_is_service_unavailable(
    harness: Harness, bob: FakeSession
) -> None:
    await harness.route(chat("hello", to="nobody@localhost"), bob)
    assert condition(only(bob)) == "service-unavailable"
    assert await stored(harness, "nobody") == 0


async def test_forged_delay_of_this_server_is_removed_and_others_kept(
    harness: Harness, bob: FakeSession
) -> None:
    forged = (
        "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='2000-01-01T00:00:00Z'>Offline Storage</delay>"
    )
    other = "<delay xmlns='urn:xmpp:delay' from='room@muc.example' stamp='2001-01-01T00:00:00Z'/>"
    sent = await harness.route(chat("hi", extra=forged + other), bob)
    assert len(delays(sent)) == 2  # the routed stanza itself is not changed
    message = only(await come_online(harness))
    assert [d.attrs["from"] for d in delays(message)] == ["room@muc.example", "localhost"]
    assert delays(message)[0].attrs["stamp"] == "2001-01-01T00:00:00Z"
    assert delays(message)[1].attrs["stamp"] != "2000-01-01T00:00:00Z"


# -- quota ---------------------------------------------------------------------------------------------------


async def test_full_queue_refuses_with_resource_constraint() -> None:
    harness = await Harness.create(modules=("offline",), configs={"offline": Offline.Config(max_messages=2)})
    try:
        await harness.add_account("alice")
        bob = harness.bind(BOB)
        for body in ("one", "two", "three"):
            await harness.route(chat(body), bob)
        # A full queue is answered with resource-constraint (type wait).
        error = only(bob)
        assert condition(error) == "resource-constraint" and error.attrs["id"] == "m-three"
        error_element = error.find("error")
        assert error_element is not None and error_element.attrs["type"] == "wait"
        assert await stored(harness) == 2
        alice = await come_online(harness)
        assert [m.child_text("body") for m in alice.take()] == ["one", "two"]
    finally:
        await harness.close()


async def test_zero_quota_stores_nothing() -> None:
    harness = await Harness.create(modules=("offline",), configs={"offline": Offline.Config(max_messages=0)})
    try:
        await harness.add_account("alice")
        bob = harness.bind(BOB)
        await harness.route(chat("one"), bob)
        assert condition(only(bob)) == "service-unavailable"
        assert await stored(harness) == 0
    finally:
        await harness.close()


# -- nothing lost, nothing twice -----------------------------------------------------------------------------


async def test_message_is_committed_before_the_hook_returns(
    harness: Harness, bob: FakeSession, slow: SlowStore
) -> None:
    slow.gate = asyncio.Event()
    stanza = parse(chat("one"))
    stanza.attrs["from"] = BOB
    context = StanzaContext(stanza, bob.jid, JID.make("alice", "localhost"), harness.host, bob)
    fired = asyncio.get_running_loop().create_task(harness.host.hooks.fire(hooks.MESSAGE_OFFLINE, context))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not fired.done()  # the store has not committed: the hook has not answered
    slow.gate.set()
    assert await fired is hooks.HANDLED
    assert await stored(harness) == 1

    # And through the router: right after routing, the message is in storage and the sender got no error.
    slow.gate = None
    await harness.route(chat("two"), bob)
    assert bob.take() == [] and await stored(harness) == 2


async def test_two_sessions_coming_online_together_do_not_both_get_the_messages(
    harness: Harness, bob: FakeSession, slow: SlowStore
) -> None:
    for body in ("one", "two", "three"):
        await harness.route(chat(body), bob)
    sessions = [harness.bind(f"alice@localhost/{r}", available=False) for r in "ab"]
    for session in sessions:
        presence = parse("<presence/>")
        presence.attrs["from"] = str(session.jid)
        harness.router.route(presence, session)
    await harness.router.drain()
    got = [[m.child_text("body") for m in s.take()] for s in sessions]
    assert sorted(got) == [[], ["one", "two", "three"]]
    assert await stored(harness) == 0


async def test_message_stored_while_the_user_comes_online_is_delivered_at_once(
    harness: Harness, bob: FakeSession, slow: SlowStore
) -> None:
    slow.gate = asyncio.Event()
    message = parse(chat("late"))
    message.attrs["from"] = BOB
    harness.router.route(message, bob)  # no resource yet: to offline storage, whose commit is slow
    alice = harness.bind("alice@localhost/a", available=False)
    presence = parse("<presence/>")
    presence.attrs["from"] = str(alice.jid)
    harness.router.route(presence, alice)
    await settle(lambda: slow.fetches == 1)  # its flush found nothing yet
    assert alice.take() == []
    slow.gate.set()
    await harness.router.drain()
    (delivered,) = alice.take()
    assert delivered.child_text("body") == "late" and len(delays(delivered)) == 1
    assert bob.take() == [] and await stored(harness) == 0


async def test_messages_stay_when_the_session_goes_away_during_the_flush(
    harness: Harness, bob: FakeSession, slow: SlowStore
) -> None:
    await harness.route(chat("one"), bob)
    alice = harness.bind("alice@localhost/a", available=False)

    def go_away() -> None:
        harness.sessions.unbind(alice)

    slow.before_fetch = go_away
    await harness.route("<presence/>", alice)
    assert alice.take() == []
    assert await stored(harness) == 1
    slow.before_fetch = None
    assert [m.child_text("body") for m in (await come_online(harness, "b")).take()] == ["one"]


async def test_unreadable_stored_message_is_dropped_and_the_rest_delivered(
    harness: Harness, bob: FakeSession
) -> None:
    await harness.storage.offline.store("localhost", "alice", 1, b"<message", 100)
    await harness.route(chat("fine"), bob)
    alice = await come_online(harness)
    assert [m.child_text("body") for m in alice.take()] == ["fine"]
    assert await stored(harness) == 0


# -- the user's filters (XEP-0191 blocking) still apply at delivery -----------------------------------------


@pytest.mark.parametrize("verdict", [DROP, StanzaError("service-unavailable")])
async def test_messages_from_a_sender_blocked_since_are_not_delivered(
    harness: Harness, bob: FakeSession, verdict: FilterVerdict
) -> None:
    await harness.route(chat("one"), bob)
    carol = harness.bind("carol@localhost/c")
    await harness.route(chat("two"), carol)

    async def block_bob(context: StanzaContext) -> FilterVerdict:
        return verdict if context.sender.bare() == bob.jid.bare() else None

    harness.host.filters_in.append(block_bob)
    alice = await come_online(harness)
    assert [m.child_text("body") for m in alice.take()] == ["two"]
    bounced = bob.take()
    if verdict is DROP:
        assert bounced == []
    else:
        assert condition(only_of(bounced)) == "service-unavailable"
    assert await stored(harness) == 0


def only_of(stanzas: list[Element]) -> Element:
    assert len(stanzas) == 1, stanzas
    return stanzas[0]


# -- disco and account deletion ------------------------------------------------------------------------------


async def test_server_advertises_msgoffline(harness: Harness, bob: FakeSession) -> None:
    await harness.route(
        "<iq type='get' id='d1' to='localhost'><query xmlns='" + NS_DISCO_INFO + "'/></iq>", bob
    )
    result = only(bob)
    query = result.find("query", NS_DISCO_INFO)
    assert query is not None
    assert "msgoffline" in {f.attrs["var"] for f in query.find_all("feature")}


async def test_account_deletion_removes_the_messages(harness: Harness, bob: FakeSession) -> None:
    await harness.route(chat("one"), bob)
    await harness.storage.offline.store("localhost", "bob", 1, b"<message xmlns='jabber:client'/>", 10)
    assert await stored(harness) == 1
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert await stored(harness) == 0
    assert await stored(harness, "bob") == 1
