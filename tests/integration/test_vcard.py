"""XEP-0054 and XEP-0153 with real slixmpp clients: publish, read back, others' vCards, errors, avatar hash."""

from __future__ import annotations

import hashlib

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from tests.integration.conftest import Client, ClientFactory
from xmppd import hooks
from xmppd.jid import JID
from xmppd.server import Server
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_CLIENT, NS_VCARD_UPDATE

IMAGE = bytes(range(256)) * 16


async def login(clients: ClientFactory, jid: str, *plugins: str) -> Client:
    client = clients.build(jid)
    for plugin in ("xep_0054", *plugins):
        client.register_plugin(plugin)
    return await clients.connect(client)


async def error_condition(awaitable: object) -> str:
    with pytest.raises(IqError) as info:
        await awaitable  # type: ignore[misc]
    condition: str = info.value.iq["error"]["condition"]
    return condition


async def test_publish_read_back_and_view_another_users(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    bob = await login(clients, "bob@localhost/b")
    vcards = alice.plugin["xep_0054"]
    # No vCard yet: one's own reads as an empty vCard (XEP-0054 section 3.1).
    empty = await vcards.get_vcard(slixmpp.JID("alice@localhost"))
    assert empty["vcard_temp"]["FN"] == ""
    vcard = vcards.make_vcard()
    vcard["FN"] = "Alice Liddell"
    vcard["NICKNAME"] = "alice"
    await vcards.publish_vcard(vcard)
    own = await vcards.get_vcard(slixmpp.JID("alice@localhost"))
    assert own["vcard_temp"]["FN"] == "Alice Liddell"
    # Another user asks the bare JID; the server answers for alice (section 3.3).
    seen = await bob.plugin["xep_0054"].get_vcard(slixmpp.JID("alice@localhost"))
    assert seen["vcard_temp"]["FN"] == "Alice Liddell"
    assert seen["vcard_temp"]["NICKNAME"] == ["alice"]
    assert str(seen["from"]) == "alice@localhost"


async def test_errors(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    bob = await login(clients, "bob@localhost/b")
    # Bob has no vCard, and nobody does not exist: the same answer to both (section 3.3).
    assert (
        await error_condition(alice.plugin["xep_0054"].get_vcard(slixmpp.JID("bob@localhost")))
        == "service-unavailable"
    )
    assert (
        await error_condition(alice.plugin["xep_0054"].get_vcard(slixmpp.JID("nobody@localhost")))
        == "service-unavailable"
    )
    vcard = bob.plugin["xep_0054"].make_vcard()
    vcard["FN"] = "Not Alice"
    forbidden = bob.plugin["xep_0054"].publish_vcard(vcard, jid=slixmpp.JID("alice@localhost"))
    assert await error_condition(forbidden) == "forbidden"


async def test_oversized_vcard_is_not_acceptable(clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a")
    vcard = alice.plugin["xep_0054"].make_vcard()
    # 191000 bytes are 254668 in base64: past the 248 KiB default limit, within the 256 KiB stanza limit.
    vcard["PHOTO"]["BINVAL"] = b"\x01" * 191_000
    assert await error_condition(alice.plugin["xep_0054"].publish_vcard(vcard)) == "not-acceptable"
    assert alice.is_connected()


async def test_avatar_hash_in_outgoing_presence(server: Server, clients: ClientFactory) -> None:
    alice = await login(clients, "alice@localhost/a", "xep_0153")
    bob = await login(clients, "bob@localhost/b")
    await alice.plugin["xep_0153"].set_avatar(avatar=IMAGE, mtype="image/png")
    seen = await bob.plugin["xep_0054"].get_vcard(slixmpp.JID("alice@localhost"))
    assert seen["vcard_temp"]["PHOTO"]["BINVAL"] == IMAGE
    # What the presence module does for every presence it broadcasts for alice's session.
    session = server.sessions.get(JID.parse("alice@localhost/a"))
    assert session is not None
    host = server.hosts["localhost"]
    presence = Element("presence", NS_CLIENT, {"from": "alice@localhost/a"})
    broadcast: Element = await host.hooks.fold(hooks.OUTGOING_PRESENCE, session, presence)
    update = broadcast.find("x", NS_VCARD_UPDATE)
    assert update is not None
    assert update.child_text("photo", NS_VCARD_UPDATE) == hashlib.sha1(IMAGE).hexdigest()
