"""The router's extension points: stanza filters, outbound presence, initial presence, arrival stamps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from xmppd import hooks
from xmppd.errors import StanzaError
from xmppd.routing.router import DROP, FilterVerdict, StanzaContext
from xmppd.xml.ns import NS_STANZAS


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("ping",))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


def only(session: FakeSession) -> list[str]:
    return [stanza.attrs.get("type", "") for stanza in session.take()]


CHAT = "<message to='{to}' type='chat' id='m'><body>hi</body></message>"


async def test_out_filter_can_bounce_with_an_application_condition(harness: Harness) -> None:
    seen: list[StanzaContext] = []

    def refuse(context: StanzaContext) -> FilterVerdict:
        seen.append(context)
        return StanzaError("not-acceptable", app=("urn:xmpp:blocking:errors", "blocked"))

    harness.host.filters_out.append(refuse)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(CHAT.format(to="bob@localhost"), alice)
    assert bob.received == []
    (error,) = alice.take()
    condition = error.find("error")
    assert condition is not None
    assert condition.find("not-acceptable", NS_STANZAS) is not None
    assert condition.find("blocked", "urn:xmpp:blocking:errors") is not None
    assert str(seen[0].sender) == "alice@localhost/a" and str(seen[0].to) == "bob@localhost"
    # Stanzas without 'to' (for the server on the account's behalf) are not filtered.
    await harness.route("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>", alice)
    assert only(alice) == ["result"]


async def test_in_filter_drop_and_async_pass(harness: Harness) -> None:
    async def slow_pass(context: StanzaContext) -> FilterVerdict:
        await asyncio.sleep(0.01)
        return None

    def drop_from_mallory(context: StanzaContext) -> FilterVerdict:
        return DROP if context.sender.local == "mallory" else None

    harness.host.filters_in.extend([slow_pass, drop_from_mallory])
    bob = harness.bind("bob@localhost/b")
    alice = harness.bind("alice@localhost/a")
    await harness.route(CHAT.format(to="bob@localhost/b"), alice)
    assert only(bob) == ["chat"]
    mallory = harness.bind("mallory@localhost/m")
    await harness.route(CHAT.format(to="bob@localhost"), mallory)
    assert bob.received == [] and mallory.received == []


async def test_in_filter_runs_once_for_a_full_jid_falling_back_to_bare(harness: Harness) -> None:
    calls: list[str] = []

    def count(context: StanzaContext) -> FilterVerdict:
        calls.append(str(context.to))
        return None

    harness.host.filters_in.append(count)
    bob = harness.bind("bob@localhost/b")
    alice = harness.bind("alice@localhost/a")
    await harness.route(CHAT.format(to="bob@localhost/gone"), alice)
    assert only(bob) == ["chat"]
    assert calls == ["bob@localhost/gone"]


async def test_presence_out_hook_can_take_over(harness: Harness) -> None:
    taken: list[str] = []

    async def take(context: StanzaContext) -> hooks.Handled | None:
        if context.stanza.attrs.get("type") == "subscribe":
            taken.append(str(context.to))
            return hooks.HANDLED
        return None

    harness.host.hooks.add(hooks.PRESENCE_OUT, take)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route("<presence to='bob@localhost' type='subscribe'/>", alice)
    assert taken == ["bob@localhost"] and bob.received == []
    # Not taken over: routed as it is (directed presence to every available resource).
    await harness.route("<presence to='bob@localhost'/>", alice)
    assert only(bob) == [""]


async def test_initial_presence_fires_once_per_session(harness: Harness) -> None:
    initial: list[str] = []

    async def on_initial(context: StanzaContext) -> None:
        initial.append(str(context.sender))

    harness.host.hooks.add(hooks.INITIAL_PRESENCE, on_initial)
    alice = harness.bind("alice@localhost/a", available=False)
    await harness.route("<presence/>", alice)
    await harness.route("<presence><show>away</show></presence>", alice)
    assert initial == ["alice@localhost/a"]
    await harness.route("<presence type='unavailable'/>", alice)
    await harness.route("<presence/>", alice)
    assert initial == ["alice@localhost/a", "alice@localhost/a"]


async def test_offline_contexts_keep_the_order_of_arrival(harness: Harness) -> None:
    stamps: list[tuple[int, str]] = []

    async def store(context: StanzaContext) -> hooks.Handled:
        stamps.append((context.stamp, context.stanza.child_text("body")))
        return hooks.HANDLED

    harness.host.hooks.add(hooks.MESSAGE_OFFLINE, store)
    alice = harness.bind("alice@localhost/a")
    for n in range(20):
        harness.router.route(
            parse(
                f"<message to='bob@localhost' type='chat' from='alice@localhost/a'><body>{n}</body></message>"
            ),
            alice,
        )
    await harness.router.drain()
    assert sorted(stamps) == [(stamp, str(n)) for n, (stamp, _) in enumerate(sorted(stamps))]
    assert len({stamp for stamp, _ in stamps}) == 20


async def test_out_filters_see_what_the_server_sends_on_an_accounts_behalf(harness: Harness) -> None:
    seen: list[tuple[str, str]] = []

    def drop_to_mallory(context: StanzaContext) -> FilterVerdict:
        seen.append((str(context.sender), str(context.to)))
        return DROP if context.to.local == "mallory" else None

    harness.host.filters_out.append(drop_to_mallory)
    mallory = harness.bind("mallory@localhost/m")
    bob = harness.bind("bob@localhost/b")
    # A presence broadcast copy routed by the server (no origin session) from alice's full JID.
    harness.router.route(parse("<presence from='alice@localhost/a' to='mallory@localhost'/>"))
    harness.router.route(parse("<presence from='alice@localhost/a' to='bob@localhost'/>"))
    await harness.router.drain()
    assert mallory.received == [] and len(bob.received) == 1
    assert seen == [("alice@localhost/a", "mallory@localhost"), ("alice@localhost/a", "bob@localhost")]
    # What the server itself sends (from its domain) is not an account's: not filtered.
    harness.router.route(parse("<message from='localhost' to='mallory@localhost' type='headline'/>"))
    await harness.router.drain()
    assert len(mallory.received) == 1 and len(seen) == 2


# -- order and cost ----------------------------------------------------------------------------------------------


async def test_a_sessions_stanzas_keep_their_order_behind_a_filter_that_waits(harness: Harness) -> None:
    """RFC 6120 section 10.1: what a session sends after a stanza that waits for a filter waits behind it."""
    release = asyncio.Event()

    def first_waits(context: StanzaContext) -> FilterVerdict | asyncio.Task[FilterVerdict]:
        if context.stanza.child_text("body") != "1":
            return None

        async def later() -> FilterVerdict:
            await release.wait()
            return None

        return asyncio.ensure_future(later())

    harness.host.filters_out.append(first_waits)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    carol = harness.bind("carol@localhost/c")
    for n in (1, 2, 3):
        stanza = parse(f"<message to='bob@localhost/b' type='chat'><body>{n}</body></message>")
        stanza.attrs["from"] = str(alice.jid)
        harness.router.route(stanza, alice)
    # Another session is not held up.
    other = "<message to='bob@localhost/b' type='chat' from='carol@localhost/c'><body>c</body></message>"
    harness.router.route(parse(other), carol)
    await asyncio.sleep(0.01)
    assert [s.child_text("body") for s in bob.received] == ["c"]
    release.set()
    await harness.router.drain()
    assert [s.child_text("body") for s in bob.take()] == ["c", "1", "2", "3"]
    # Nothing waits any more: the next one goes straight through.
    fourth = "<message to='bob@localhost/b' from='alice@localhost/a'><body>4</body></message>"
    harness.router.route(parse(fourth), alice)
    assert [s.child_text("body") for s in bob.take()] == ["4"]


async def test_what_waited_behind_a_refused_stanza_still_goes(harness: Harness) -> None:
    async def refuse_the_first(context: StanzaContext) -> FilterVerdict:
        await asyncio.sleep(0.01)
        return DROP if context.stanza.child_text("body") == "1" else None

    def waits_for_the_first(context: StanzaContext) -> FilterVerdict | asyncio.Task[FilterVerdict]:
        return (
            asyncio.ensure_future(refuse_the_first(context))
            if context.stanza.child_text("body") == "1"
            else None
        )

    harness.host.filters_in.append(waits_for_the_first)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    for n in (1, 2):
        stanza = parse(f"<message to='bob@localhost' type='chat'><body>{n}</body></message>")
        stanza.attrs["from"] = str(alice.jid)
        harness.router.route(stanza, alice)
    await harness.router.drain()
    assert [s.child_text("body") for s in bob.take()] == ["2"]


async def test_out_and_in_filters_of_one_host_see_one_context(harness: Harness) -> None:
    """A stanza between two accounts of one host is described once: the addressee's filters reuse the context."""
    seen: list[StanzaContext] = []

    def record(context: StanzaContext) -> FilterVerdict:
        seen.append(context)
        return None

    harness.host.filters_out.append(record)
    harness.host.filters_in.append(record)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await harness.route(CHAT.format(to="bob@localhost/b"), alice)
    assert only(bob) == ["chat"]
    assert len(seen) == 2 and seen[0] is seen[1]
    assert str(seen[0].sender) == "alice@localhost/a" and str(seen[0].to) == "bob@localhost/b"
    # Falling back from a missing resource to the bare JID, the addressee is another: a context of its own.
    seen.clear()
    await harness.route(CHAT.format(to="bob@localhost/gone"), alice)
    assert only(bob) == ["chat"]
    assert [str(c.to) for c in seen] == ["bob@localhost/gone", "bob@localhost/gone"] and seen[0] is seen[1]


async def test_what_follows_a_presence_the_out_hook_handles_waits_for_it(harness: Harness) -> None:
    async def slow(context: StanzaContext) -> None:
        await asyncio.sleep(0.01)

    harness.host.hooks.add(hooks.PRESENCE_OUT, slow)
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    for xml in ("<presence to='bob@localhost/b'/>", CHAT.format(to="bob@localhost/b")):
        stanza = parse(xml)
        stanza.attrs["from"] = str(alice.jid)
        harness.router.route(stanza, alice)
    await harness.router.drain()
    assert [s.name for s in bob.take()] == ["presence", "message"]
