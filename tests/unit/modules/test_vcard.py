"""XEP-0054 vcard-temp (own, others', errors, size limit) and XEP-0153 avatar hashes in outgoing presence."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

import pytest

from tests.helpers.harness import FakeSession, Harness
from tests.helpers.xml import parse
from tests.unit.modules.conftest import condition, only
from xmppd import hooks
from xmppd.modules.vcard import VCard, photo_hash
from xmppd.storage.keyval import KeyValueStore
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_VCARD, NS_VCARD_UPDATE
from xmppd.xml.serializer import to_bytes

IMAGE = bytes(range(256)) * 4
IMAGE_SHA1 = hashlib.sha1(IMAGE).hexdigest()
# Base64 in 76-character lines, as RFC 2045 and XEP-0153 section 4.6 describe it.
BINVAL = "\n".join(
    base64.b64encode(IMAGE).decode()[i : i + 76] for i in range(0, len(base64.b64encode(IMAGE)), 76)
)

VCARD = "<vCard xmlns='vcard-temp'><FN>Alice</FN><NICKNAME>al</NICKNAME></vCard>"
VCARD_PHOTO = (
    "<vCard xmlns='vcard-temp'><FN>Alice</FN>"
    f"<PHOTO><TYPE>image/png</TYPE><BINVAL>\n{BINVAL}\n</BINVAL></PHOTO></vCard>"
)


def get(to: str | None = None, iq_id: str = "g1") -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='get' id='{iq_id}'{to_attr}><vCard xmlns='vcard-temp'/></iq>"


def set_(vcard: str, to: str | None = None, iq_id: str = "s1") -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='set' id='{iq_id}'{to_attr}>{vcard}</iq>"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = await Harness.create(modules=("disco", "vcard"))
    await h.add_account("alice")
    await h.add_account("bob")
    yield h
    await h.close()


async def store_vcard(harness: Harness, session: FakeSession, vcard: str) -> None:
    await harness.route(set_(vcard), session)
    result = only(session)
    assert result.attrs["type"] == "result", result
    assert result.children == []


def payload(result: Element) -> Element:
    assert result.attrs["type"] == "result", result
    vcard = result.find("vCard", NS_VCARD)
    assert vcard is not None
    return vcard


# -- XEP-0054 ------------------------------------------------------------------------------------------------


async def test_own_missing_vcard_is_an_empty_vcard(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in (None, "alice@localhost"):
        await harness.route(get(to), alice)
        result = only(alice)
        assert payload(result) == Element("vCard", NS_VCARD)
        assert result.attrs["to"] == "alice@localhost/a"


async def test_set_then_get_own_vcard_with_and_without_to(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD)
    for to in (None, "alice@localhost"):
        await harness.route(get(to), alice)
        assert payload(only(alice)) == parse(VCARD)


async def test_set_to_own_bare_jid_is_allowed(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await harness.route(set_(VCARD, to="alice@localhost"), alice)
    assert only(alice).attrs["type"] == "result"
    await harness.route(get(), alice)
    assert payload(only(alice)) == parse(VCARD)


async def test_set_replaces_the_whole_vcard(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD)
    await store_vcard(harness, alice, "<vCard xmlns='vcard-temp'><FN>Only this</FN></vCard>")
    await harness.route(get(), alice)
    assert payload(only(alice)) == parse("<vCard xmlns='vcard-temp'><FN>Only this</FN></vCard>")


async def test_another_users_vcard_is_answered_by_the_server(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bob = harness.bind("bob@localhost/b")
    await store_vcard(harness, alice, VCARD)
    await harness.route(get("alice@localhost", "v3"), bob)
    result = only(bob)
    assert result.attrs["from"] == "alice@localhost" and result.attrs["id"] == "v3"
    assert payload(result) == parse(VCARD)
    assert alice.take() == []  # never forwarded to the user's resource (section 3.3)


async def test_another_users_vcard_when_offline(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD)
    harness.sessions.unbind(alice)
    bob = harness.bind("bob@localhost/b")
    await harness.route(get("alice@localhost"), bob)
    assert payload(only(bob)) == parse(VCARD)


async def test_missing_vcard_and_missing_user_get_the_same_error(harness: Harness) -> None:
    bob = harness.bind("bob@localhost/b")
    await harness.route(get("alice@localhost"), bob)
    no_vcard = condition(only(bob))
    await harness.route(get("nobody@localhost"), bob)
    no_user = condition(only(bob))
    assert no_vcard == no_user == "service-unavailable"


async def test_setting_another_users_vcard_is_forbidden(harness: Harness) -> None:
    bob = harness.bind("bob@localhost/b")
    await harness.route(set_(VCARD, to="alice@localhost"), bob)
    error = only(bob)
    assert condition(error) == "forbidden"
    details = error.find("error")
    assert details is not None and details.attrs["type"] == "auth"
    assert await harness.storage.keyval.get("localhost", "alice", "vcard", "vcard") is None


async def test_vcard_is_stored_in_the_keyval_store(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD)
    stored = await harness.storage.keyval.get("localhost", "alice", "vcard", "vcard")
    assert stored == to_bytes(parse(VCARD))


async def test_empty_vcard_removes_it(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD)
    await store_vcard(harness, alice, "<vCard xmlns='vcard-temp' version='3.0'> </vCard>")
    assert await harness.storage.keyval.get("localhost", "alice", "vcard", "vcard") is None
    await harness.route(get(), alice)
    assert payload(only(alice)) == Element("vCard", NS_VCARD)
    # To others, an account without a vCard looks like one that does not exist (section 3.3).
    bob = harness.bind("bob@localhost/b")
    await harness.route(get("alice@localhost"), bob)
    assert condition(only(bob)) == "service-unavailable"


async def test_size_limit() -> None:
    limit = len(to_bytes(parse(VCARD)))
    harness = await Harness.create(modules=("vcard",), configs={"vcard": VCard.Config(max_size=limit)})
    try:
        alice = harness.bind("alice@localhost/a")
        await store_vcard(harness, alice, VCARD)  # exactly at the limit
        bigger = VCARD.replace("Alice", "Alice!")
        await harness.route(set_(bigger), alice)
        error = only(alice)
        assert condition(error) == "not-acceptable"
        await harness.route(get(), alice)
        assert payload(only(alice)) == parse(VCARD)  # the previous one stays
    finally:
        await harness.close()


def test_default_size_limit_fits_the_default_stanza_limit() -> None:
    from xmppd.xml.parser import DEFAULT_MAX_STANZA_SIZE  # noqa: PLC0415

    # The vCard travels inside an iq result with two addresses (each up to 3071 bytes) and an id.
    assert VCard.Config().max_size + 2 * 3071 + 512 <= DEFAULT_MAX_STANZA_SIZE


async def test_photo_that_is_not_base64_is_a_bad_request(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    bad = "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>not base64!</BINVAL></PHOTO></vCard>"
    await harness.route(set_(bad), alice)
    assert condition(only(alice)) == "bad-request"
    assert await harness.storage.keyval.get("localhost", "alice", "vcard", "vcard") is None


async def test_disco_advertises_vcard_temp(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    for to in ("localhost", "alice@localhost"):
        await harness.route(
            f"<iq type='get' id='d' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            alice,
        )
        query = only(alice).find("query", NS_DISCO_INFO)
        assert query is not None
        assert "vcard-temp" in {f.attrs["var"] for f in query.find_all("feature")}


async def test_account_deletion_removes_the_vcard(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD_PHOTO)
    await harness.host.hooks.fire(hooks.ACCOUNT_DELETED, hooks.AccountDeleted("localhost", "alice"))
    assert await harness.storage.keyval.get("localhost", "alice", "vcard", "vcard") is None
    presence = await outgoing(harness, alice)
    assert photo_of(presence) == ""


# -- XEP-0153 ------------------------------------------------------------------------------------------------


def test_photo_hash_is_sha1_of_the_decoded_image() -> None:
    assert photo_hash(parse(VCARD_PHOTO)) == IMAGE_SHA1
    assert photo_hash(parse(VCARD)) == ""
    assert photo_hash(parse("<vCard xmlns='vcard-temp'><PHOTO><BINVAL/></PHOTO></vCard>")) == ""
    extval = "<vCard xmlns='vcard-temp'><PHOTO><EXTVAL>https://example.org/a.png</EXTVAL></PHOTO></vCard>"
    assert photo_hash(parse(extval)) == ""
    with pytest.raises(ValueError, match="base64"):
        photo_hash(parse("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>@@@</BINVAL></PHOTO></vCard>"))


async def outgoing(harness: Harness, session: FakeSession, xml: str = "<presence/>") -> Element:
    presence = parse(xml)
    presence.attrs["from"] = str(session.jid)
    result: Element = await harness.host.hooks.fold(hooks.OUTGOING_PRESENCE, session, presence.copy())
    return result


def photo_of(presence: Element) -> str | None:
    """The text of the update child's photo; None when the presence has no photo element."""
    update = presence.find("x", NS_VCARD_UPDATE)
    assert update is not None
    photo = update.find("photo", NS_VCARD_UPDATE)
    return None if photo is None else photo.text


async def test_presence_gets_the_hash_of_the_stored_photo(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD_PHOTO)
    presence = await outgoing(harness, alice, "<presence><show>away</show></presence>")
    assert photo_of(presence) == IMAGE_SHA1
    assert presence.child_text("show") == "away"


async def test_no_vcard_or_no_photo_gives_an_empty_photo(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    presence = await outgoing(harness, alice)
    assert photo_of(presence) == ""
    assert presence.find("x", NS_VCARD_UPDATE) == Element(
        "x", NS_VCARD_UPDATE, children=[Element("photo", NS_VCARD_UPDATE)]
    )
    await store_vcard(harness, alice, VCARD)
    assert photo_of(await outgoing(harness, alice)) == ""


async def test_update_child_from_the_client_is_left_alone(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    await store_vcard(harness, alice, VCARD_PHOTO)
    for xml in (
        "<presence><x xmlns='vcard-temp:x:update'><photo>abc</photo></x></presence>",
        "<presence><x xmlns='vcard-temp:x:update'/></presence>",
    ):
        presence = await outgoing(harness, alice, xml)
        expected = parse(xml)
        expected.attrs["from"] = "alice@localhost/a"
        assert presence == expected


async def test_unavailable_presence_is_left_alone(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    presence = await outgoing(harness, alice, "<presence type='unavailable'/>")
    assert presence.find("x", NS_VCARD_UPDATE) is None


async def test_new_photo_changes_the_hash_at_once(harness: Harness) -> None:
    alice = harness.bind("alice@localhost/a")
    assert photo_of(await outgoing(harness, alice)) == ""
    await store_vcard(harness, alice, VCARD_PHOTO)
    assert photo_of(await outgoing(harness, alice)) == IMAGE_SHA1
    await store_vcard(harness, alice, VCARD)
    assert photo_of(await outgoing(harness, alice)) == ""


class CountingStore:
    """A KeyValueStore that counts reads (wraps the harness's memory store)."""

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self, host: str, username: str, store: str, key: str) -> bytes | None:
        self.reads += 1
        return await self.inner.get(host, username, store, key)

    async def set(self, host: str, username: str, store: str, key: str, value: bytes) -> None:
        await self.inner.set(host, username, store, key, value)

    async def delete(self, host: str, username: str, store: str, key: str) -> bool:
        return await self.inner.delete(host, username, store, key)

    async def keys(self, host: str, username: str, store: str) -> list[str]:
        return await self.inner.keys(host, username, store)

    async def delete_user(self, host: str, username: str) -> int:
        return await self.inner.delete_user(host, username)


async def test_hash_is_read_once_per_online_user(harness: Harness) -> None:
    await harness.storage.keyval.set("localhost", "alice", "vcard", "vcard", to_bytes(parse(VCARD_PHOTO)))
    counting = CountingStore(harness.storage.keyval)
    harness.storage.keyval = counting
    alice = harness.bind("alice@localhost/a")
    other = harness.bind("alice@localhost/b")
    for session in (alice, other, alice):
        assert photo_of(await outgoing(harness, session)) == IMAGE_SHA1
    assert counting.reads == 1
    # One resource leaves: the hash stays; the last one leaves: it is forgotten, and read again next time.
    for session in (alice, other):
        harness.sessions.unbind(session)
        await harness.host.hooks.fire(hooks.RESOURCE_UNBOUND, session)
        if session is alice:
            assert photo_of(await outgoing(harness, other)) == IMAGE_SHA1
            assert counting.reads == 1
    await counting.inner.set("localhost", "alice", "vcard", "vcard", to_bytes(parse(VCARD)))
    again = harness.bind("alice@localhost/c")
    assert photo_of(await outgoing(harness, again)) == ""
    assert counting.reads == 2
