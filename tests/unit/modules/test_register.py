"""XEP-0077: registration before authentication, password change, cancellation, and Host.delete_account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.errors import StreamError
from xmppd.jid import JID
from xmppd.modules import loader
from xmppd.modules.register import INSTRUCTIONS, AddressLimit, Register, answer_before_auth
from xmppd.sasl.scram import derive_keys
from xmppd.storage import open_storage
from xmppd.storage.roster import RosterItem
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_REGISTER

OPEN = Register.Config(allow_registration=True, max_registrations_per_address=2)


def query(content: str = "", iq_type: str = "set", to: str | None = None, iq_id: str = "r1") -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='{iq_type}' id='{iq_id}'{to_attr}><query xmlns='{NS_REGISTER}'>{content}</query></iq>"


def fields(username: str | None = "bill", password: str | None = "Calliope") -> str:
    content = "" if username is None else f"<username>{username}</username>"
    return content + ("" if password is None else f"<password>{password}</password>")


async def password_is(harness: Harness, username: str, password: str) -> bool:
    account = await harness.storage.accounts.get("localhost", username)
    assert account is not None, f"no account {username}"
    assert {keys.hash_name for keys in account.keys} == {"sha1", "sha256"}
    return all(
        derive_keys(password, keys.hash_name, keys.iterations, keys.salt) == keys for keys in account.keys
    )


class Recorder(FakeSession):
    """A session that records deliveries and closing in one list, in order, and leaves the table when closed
    (as a real session does)."""

    def __init__(self, harness: Harness, jid: str) -> None:
        super().__init__(JID.parse(jid))
        self.harness = harness
        self.log: list[Element | StreamError | None] = []
        harness.sessions.bind(self)

    def deliver(self, stanza: Element) -> None:
        super().deliver(stanza)
        self.log.append(stanza)

    def close(self, error: StreamError | None = None) -> None:
        super().close(error)
        self.log.append(error)
        self.harness.sessions.unbind(self)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "register"))
    for name in ("alice", "bob"):
        await h.add_account(name)
    yield h
    await h.close()


@pytest.fixture
async def two_hosts() -> AsyncIterator[Harness]:
    """localhost and other.localhost: users of one are not registered with the other."""
    h = Harness(await open_storage("memory://"), ("localhost", "other.localhost"))
    for host in h.hosts.values():
        await loader.load(host, ("register",), {})
    await h.add_account("eve", "other.localhost")
    yield h
    await h.close()


@pytest.fixture
async def open_harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "register"), configs={"register": OPEN})
    await h.add_account("alice")
    yield h
    await h.close()


async def before_auth(harness: Harness, xml: str, address: str = "192.0.2.1") -> Element:
    return await answer_before_auth(harness.host, parse(xml), address)


# -- registration before authentication (section 3.1) --------------------------------------------------------


async def test_closed_registration_is_service_unavailable(harness: Harness) -> None:
    for xml in (query(iq_type="get"), query(fields())):
        assert condition(await before_auth(harness, xml)) == "service-unavailable"
    assert await harness.storage.accounts.get("localhost", "bill") is None


async def test_get_returns_the_form(open_harness: Harness) -> None:
    answer = await before_auth(open_harness, query(iq_type="get", iq_id="reg1"))
    assert answer.attrs == {"type": "result", "id": "reg1"}
    form = answer.find("query", NS_REGISTER)
    assert form is not None
    assert [(child.name, child.text) for child in form.elements()] == [
        ("instructions", INSTRUCTIONS),
        ("username", ""),
        ("password", ""),
    ]


async def test_set_creates_the_account_with_scram_keys(open_harness: Harness) -> None:
    answer = await before_auth(open_harness, query(fields("Bill"), to="localhost"))
    assert answer.attrs == {"type": "result", "id": "r1", "from": "localhost"}
    assert answer.children == []
    # The username is stored prepared (RFC 7622 section 3.3), as the client will log in with it.
    assert await password_is(open_harness, "bill", "Calliope")


async def test_taken_username_is_a_conflict(open_harness: Harness) -> None:
    assert condition(await before_auth(open_harness, query(fields("alice")))) == "conflict"
    account = await open_harness.storage.accounts.get("localhost", "alice")
    assert account is not None and account.keys == ()


@pytest.mark.parametrize(
    "content",
    [
        fields(password=None),
        fields(password=""),
        "<username>bill</username><password/>",
        fields(username=None),
        fields(username=""),
        fields(username="bad user"),
        fields(username="bill@localhost"),
        fields(password="zero\u200bwidth"),
        "<x xmlns='jabber:x:data' type='submit'/>",
    ],
    ids=[
        "no-password",
        "empty-password",
        "empty-password-element",
        "no-username",
        "empty-username",
        "space",
        "at-sign",
        "unprintable-password",
        "data-form",
    ],
)
async def test_missing_or_invalid_fields_are_not_acceptable(open_harness: Harness, content: str) -> None:
    # Section 3.1: a required field not provided (an empty password included) MUST be not-acceptable.
    assert condition(await before_auth(open_harness, query(content))) == "not-acceptable"
    assert await open_harness.storage.accounts.list("localhost") == ["alice"]


async def test_remove_before_authentication_is_unexpected(open_harness: Harness) -> None:
    # Section 3.2's table: the entity is not registered, so its request has no 'from'.
    assert condition(await before_auth(open_harness, query("<remove/>"))) == "unexpected-request"


async def test_registrations_per_address_are_limited(open_harness: Harness) -> None:
    # Section 3.1.1: not-acceptable for an entity that registers too many times.
    for name in ("one", "two"):
        assert (await before_auth(open_harness, query(fields(name)))).attrs["type"] == "result"
    refused = await before_auth(open_harness, query(fields("three")))
    assert condition(refused) == "not-acceptable"
    assert await open_harness.storage.accounts.get("localhost", "three") is None
    other = await before_auth(open_harness, query(fields("three")), address="198.51.100.7")
    assert other.attrs["type"] == "result"


async def test_failed_registrations_do_not_count(open_harness: Harness) -> None:
    for _ in range(3):
        assert condition(await before_auth(open_harness, query(fields("alice")))) == "conflict"
        assert condition(await before_auth(open_harness, query(fields(password="")))) == "not-acceptable"
    assert (await before_auth(open_harness, query(fields("bill")))).attrs["type"] == "result"


def test_address_limit_counts_over_the_period() -> None:
    limit = AddressLimit(2, 60.0)
    assert limit.reserve("a", 0.0) and limit.reserve("a", 10.0)
    assert not limit.reserve("a", 59.0)
    assert limit.reserve("b", 59.0)
    assert limit.reserve("a", 60.0)  # the first one is a period old
    limit.release("a", 60.0)  # it created no account
    assert limit.reserve("a", 61.0)
    assert not limit.reserve("a", 62.0)


def test_address_limit_forgets_idle_addresses_first() -> None:
    limit = AddressLimit(1, 60.0, max_addresses=2)
    assert limit.reserve("old", 0.0)
    assert limit.reserve("busy", 50.0)
    assert limit.reserve("new", 70.0)  # the table is full: "old" has nothing in the period and goes
    assert not limit.reserve("busy", 71.0)
    assert limit.reserve("flood", 72.0)  # full of recent ones: the least recent half goes ("busy")
    assert limit.reserve("busy", 73.0)


# -- logged-in users -----------------------------------------------------------------------------------------


async def test_disco_advertises_the_namespace_even_with_registration_closed(harness: Harness) -> None:
    # Section 11: the feature says the protocol is spoken; password change and cancellation are.
    alice = harness.bind("alice@localhost/a")
    await harness.route(f"<iq type='get' id='d' to='localhost'><query xmlns='{NS_DISCO_INFO}'/></iq>", alice)
    info = only(alice).find("query", NS_DISCO_INFO)
    assert info is not None
    assert NS_REGISTER in {feature.attrs["var"] for feature in info.find_all("feature")}


@pytest.mark.parametrize("to", [None, "localhost", "alice@localhost"])
async def test_registered_user_gets_registered_and_username(harness: Harness, to: str | None) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(query(iq_type="get", to=to), alice)
    result = only(alice)
    assert result.attrs["type"] == "result"
    payload = result.find("query", NS_REGISTER)
    assert payload is not None
    assert [child.name for child in payload.elements()] == [
        "registered",
        "instructions",
        "username",
        "password",
    ]
    assert payload.child_text("username", NS_REGISTER) == "alice"
    assert payload.child_text("password", NS_REGISTER) == ""  # never the password: only keys are kept


async def test_another_accounts_registration_is_service_unavailable(harness: Harness) -> None:
    bob = harness.bind("bob@localhost/b")
    for xml in (query(iq_type="get", to="alice@localhost"), query("<remove/>", to="alice@localhost")):
        await harness.route(xml, bob)
        assert condition(only(bob)) == "service-unavailable"
    assert await harness.storage.accounts.get("localhost", "alice") is not None


# -- password change (section 3.3) ---------------------------------------------------------------------------


@pytest.mark.parametrize("to", [None, "localhost"])
async def test_password_change(harness: Harness, to: str | None) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(query(fields("alice", "new password"), to=to), alice)
    result = only(alice)
    assert result.attrs["type"] == "result" and result.children == []
    assert await password_is(harness, "alice", "new password")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (fields("alice", None), "bad-request"),
        (fields("alice", ""), "bad-request"),  # MUST NOT change the password to a null value
        (fields(None, "new"), "bad-request"),  # we require the username (section 3.3's table)
        (fields("bob", "new"), "bad-request"),
        (fields("bad user", "new"), "bad-request"),
        (fields("alice", "zero\u200bwidth"), "bad-request"),
    ],
    ids=["no-password", "empty-password", "no-username", "someone-else", "bad-username", "bad-password"],
)
async def test_password_change_errors_keep_the_password(
    harness: Harness, content: str, expected: str
) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(query(fields("alice", "old password")), alice)
    only(alice)
    await harness.route(query(content), alice)
    error = only(alice)
    assert condition(error) == expected
    # Section 3.3: the error SHOULD NOT carry the original XML (the password).
    assert error.find("query", NS_REGISTER) is None
    assert await password_is(harness, "alice", "old password")
    bob = await harness.storage.accounts.get("localhost", "bob")
    assert bob is not None and bob.keys == ()


async def test_another_hosts_user_cannot_register_or_change_here(two_hosts: Harness) -> None:
    eve = two_hosts.bind("eve@other.localhost/x")
    for xml in (query(iq_type="get", to="localhost"), query(fields("eve", "new"), to="localhost")):
        await two_hosts.route(xml, eve)
        assert condition(only(eve)) == "service-unavailable"
    assert await two_hosts.storage.accounts.list("localhost") == []


# -- cancellation (section 3.2) and Host.delete_account -------------------------------------------------------


async def test_remove_answers_then_deletes_and_closes_every_session(harness: Harness) -> None:
    deleted: list[hooks.AccountDeleted] = []

    async def follow(event: hooks.AccountDeleted) -> None:
        deleted.append(event)

    harness.host.hooks.add(hooks.ACCOUNT_DELETED, follow)
    await harness.storage.keyval.set("localhost", "alice", "private", "k", b"data")
    phone = Recorder(harness, "alice@localhost/phone")
    desk = Recorder(harness, "alice@localhost/desk")
    bob = harness.bind("bob@localhost/b")
    await harness.route(query("<remove/>", iq_id="unreg1"), phone)
    # The result first, then the not-authorized stream error (section 3.2).
    assert len(phone.log) == 2, phone.log
    result, error = phone.log
    assert isinstance(result, Element) and result.attrs == {
        "type": "result",
        "id": "unreg1",
        "to": str(phone.jid),
    }
    assert isinstance(error, StreamError) and error.condition == "not-authorized"
    assert [type(item) for item in desk.log] == [StreamError]
    assert bob.closed_with == [] and bob.take() == []
    assert deleted == [hooks.AccountDeleted("localhost", "alice")]
    assert await harness.storage.accounts.list("localhost") == ["bob"]
    assert await harness.storage.keyval.get("localhost", "alice", "private", "k") is None


async def test_remove_must_come_alone(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(query("<remove/><username>alice</username>"), alice)
    assert condition(only(alice)) == "bad-request"
    assert alice.closed_with == []
    assert await harness.storage.accounts.get("localhost", "alice") is not None


async def test_remove_of_an_unregistered_entity_is_registration_required(two_hosts: Harness) -> None:
    eve = two_hosts.bind("eve@other.localhost/x")
    await two_hosts.route(query("<remove/>", to="localhost"), eve)
    assert condition(only(eve)) == "registration-required"
    assert eve.closed_with == []
    assert await two_hosts.storage.accounts.list("other.localhost") == ["eve"]


async def test_delete_account_waits_for_the_routing_the_hook_causes(harness: Harness) -> None:
    storage = harness.storage

    async def late_write() -> None:
        # What a contact's answer to an unsubscribe could do: touch the account's data a little later.
        await asyncio.sleep(0.05)
        await storage.keyval.set("localhost", "alice", "late", "k", b"v")

    async def follow(event: hooks.AccountDeleted) -> None:
        harness.router.spawn(late_write())

    harness.host.hooks.add(hooks.ACCOUNT_DELETED, follow)
    assert await harness.host.delete_account("Alice")
    assert await storage.keyval.get("localhost", "alice", "late", "k") is None
    assert await storage.accounts.get("localhost", "alice") is None


async def test_delete_account_of_no_account(harness: Harness) -> None:
    fired: list[Any] = []

    async def follow(event: hooks.AccountDeleted) -> None:
        fired.append(event)

    harness.host.hooks.add(hooks.ACCOUNT_DELETED, follow)
    assert not await harness.host.delete_account("nobody")
    assert not await harness.host.delete_account("not valid@")
    assert fired == []


async def test_concurrent_deletions_fire_the_hook_once(harness: Harness) -> None:
    fired: list[Any] = []

    async def follow(event: hooks.AccountDeleted) -> None:
        fired.append(event)
        await asyncio.sleep(0.01)

    harness.host.hooks.add(hooks.ACCOUNT_DELETED, follow)
    outcomes = await asyncio.gather(
        harness.host.delete_account("alice"), harness.host.delete_account("alice")
    )
    assert sorted(outcomes) == [False, True]
    assert len(fired) == 1


async def test_remove_unsubscribes_the_contacts_on_the_roster() -> None:
    # Section 3.2: the server SHOULD cancel the entity's presence subscriptions (the roster module does, on
    # ACCOUNT_DELETED; the presence module updates the contact's side).
    harness = await Harness.create(modules=("roster", "presence", "register"))
    try:
        for name in ("alice", "bob"):
            await harness.add_account(name)
        roster = harness.storage.roster
        await roster.put_item("localhost", "alice", RosterItem("bob@localhost", subscription="both"))
        await roster.put_item("localhost", "bob", RosterItem("alice@localhost", subscription="both"))
        alice = Recorder(harness, "alice@localhost/a")
        await harness.route(query("<remove/>"), alice)
        item = await roster.get_item("localhost", "bob", "alice@localhost")
        assert item is not None and item.subscription == "none"
        assert (await roster.get_roster("localhost", "alice")).items == ()
        assert await harness.storage.accounts.list("localhost") == ["bob"]
    finally:
        await harness.close()
