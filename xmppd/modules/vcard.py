"""XEP-0054: vcard-temp, with XEP-0153 avatar hashes in the presence the server broadcasts.

A user stores and retrieves their vCard with IQs to their own bare JID (or with no ``to``); anyone may read an
account's vCard by asking its bare JID, and the server answers on the account's behalf (RFC 6121 section
8.5.2.1.3). The vCard is kept whole, as the client sent it, in the key/value store (``vcard``/``vcard``).

XEP-0153: the presence module folds every presence it broadcasts for a session through
``hooks.OUTGOING_PRESENCE``; when the client's presence carries no ``<x xmlns='vcard-temp:x:update'/>`` this
module adds one with the SHA-1 of the vCard's photo (an empty ``<photo/>`` when there is none). The hash of each
online user is cached, so a broadcast costs no storage read after the user's first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from xmppd import hooks
from xmppd.config import option
from xmppd.errors import StanzaError
from xmppd.jid import JID
from xmppd.modules.api import IqRequest, Module, Spec, To, hook, iq_handler
from xmppd.routing.sessions import LocalSession
from xmppd.xml.document import parse_document
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_VCARD, NS_VCARD_UPDATE
from xmppd.xml.serializer import to_bytes

STORE: Final = "vcard"
KEY: Final = "vcard"


def photo_hash(vcard: Element) -> str:
    """The hex SHA-1 of the image in ``<PHOTO><BINVAL/></PHOTO>`` (XEP-0153 section 3.1); "" when there is none.

    Raises ``ValueError`` when BINVAL is not base64 (XEP-0153 section 4.6, rule 5).
    """
    photo = vcard.find("PHOTO", NS_VCARD)
    binval = photo.find("BINVAL", NS_VCARD) if photo is not None else None
    if binval is None:
        return ""
    # XEP-0153 section 4.6, rule 5: base64 with line breaks (RFC 2045); white space MUST be ignored.
    encoded = "".join(binval.text.split())
    if not encoded:
        return ""  # section 4.4: an empty BINVAL is no image
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("BINVAL is not base64") from None
    # The hash of the image data itself, not of its base64 text (section 3.1).
    return hashlib.sha1(image, usedforsecurity=False).hexdigest() if image else ""


def _is_empty(vcard: Element) -> bool:
    return not vcard.elements() and not vcard.text.strip()


class VCard(Module):
    name = "vcard"
    spec = Spec(
        "XEP-0054", version="1.3.0", note="with XEP-0153 (1.1) avatar hashes added to broadcast presence"
    )
    # XEP-0054 section 4: support is advertised as 'vcard-temp', by the server and for the accounts it answers for.
    features = (NS_VCARD,)
    account_features = (NS_VCARD,)

    @dataclass(frozen=True, slots=True)
    class Config:
        max_size: int = option(248 * 1024, minimum=1024, maximum=64 * 1024 * 1024)
        """Largest vCard accepted, in bytes of XML (a larger one is refused with not-acceptable). The default
        leaves room for a photo, and keeps the vCard, with the addresses of the IQ result that carries it, within
        the default stanza size limit of 256 KiB (``c2s.max_stanza_size``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._hashes: dict[str, str] = {}
        """Username -> avatar hash ("" for none), for users with a bound resource."""

    async def stop(self) -> None:
        self._hashes.clear()

    # -- XEP-0054 --------------------------------------------------------------------------------------------

    @iq_handler("get", NS_VCARD, "vCard", to=(To.BARE,))
    async def get_vcard(self, request: IqRequest) -> Element:
        """One's own vCard (section 3.1) or another account's (section 3.3), answered by the server."""
        username = request.to.local
        assert username is not None
        data = await self.host.storage.keyval.get(self.host.name, username, STORE, KEY)
        if data is not None:
            return parse_document(data)
        if request.sender.bare() == request.to:
            # Section 3.1: no vCard MUST be answered with a stanza error (which SHOULD be item-not-found) or with
            # an empty vCard; the XEP ranks neither above the other. The empty vCard lets the usual
            # get-modify-set update work for a user who has none yet (slixmpp's XEP-0153 set_avatar gives up on
            # an error), and reads back what an empty set stores.
            return Element("vCard", NS_VCARD)
        # Section 3.3: no vCard and no such user MUST get the same error, so that the answer does not tell
        # which accounts exist; the router answers service-unavailable for accounts that do not (RFC 6121
        # section 8.5.1).
        raise StanzaError("service-unavailable")

    @iq_handler("set", NS_VCARD, "vCard", to=(To.BARE,))
    async def set_vcard(self, request: IqRequest) -> None:
        """Store the whole vCard, replacing the previous one (section 3.2: there are no partial updates)."""
        if request.sender.bare() != request.to:
            # Section 3.2: setting another user's vCard MUST be an error, which SHOULD be forbidden.
            raise StanzaError("forbidden", "only the account's owner may change its vCard")
        username = request.to.local
        assert username is not None
        vcard = request.payload
        data = to_bytes(vcard)
        if len(data) > self.config.max_size:
            # A local policy (RFC 6120 section 8.3.3.12: the request does not meet criteria the server defines);
            # XEP-0060 section 7.1.3.4 answers a payload over its size limit with not-acceptable too.
            raise StanzaError("not-acceptable", f"vCard larger than {self.config.max_size} bytes")
        try:
            digest = photo_hash(vcard)
        except ValueError:
            # XEP-0153 section 4.6, rule 5: the image data MUST be base64.
            raise StanzaError("bad-request", "PHOTO/BINVAL is not base64") from None
        store = self.host.storage.keyval
        if _is_empty(vcard):
            # An empty vCard holds nothing to keep; a get answers it with the same empty vCard.
            await store.delete(self.host.name, username, STORE, KEY)
        else:
            await store.set(self.host.name, username, STORE, KEY, data)
        if self.host.sessions.resources(JID.make(username, self.host.name)):
            self._hashes[username] = digest
        else:
            self._hashes.pop(username, None)

    # -- XEP-0153 --------------------------------------------------------------------------------------------

    @hook(hooks.OUTGOING_PRESENCE)
    async def add_avatar_hash(self, session: LocalSession, presence: Element) -> Element:
        """Add the avatar hash to an available presence broadcast for ``session`` that has none."""
        jid = session.jid
        if (
            presence.attrs.get("type") is not None
            or jid.local is None
            or jid.domain != self.host.name
            or presence.find("x", NS_VCARD_UPDATE) is not None
        ):
            # Unavailable presence advertises nothing; what the client said about its avatar stands (an update
            # child, even an empty one, is the client's own statement, section 4.1).
            return presence
        digest = await self._avatar_hash(jid.local)
        update = presence.add("x", NS_VCARD_UPDATE)
        # Section 4.1, rule 3: with no image to advertise, the photo element MUST be empty.
        update.add("photo", text=digest or None)
        return presence

    async def _avatar_hash(self, username: str) -> str:
        cached = self._hashes.get(username)
        if cached is not None:
            return cached
        data = await self.host.storage.keyval.get(self.host.name, username, STORE, KEY)
        digest = ""
        if data is not None:
            try:
                digest = photo_hash(parse_document(data))
            except ValueError:
                self.log.warning("stored vCard of %s has an unreadable photo", username)
        if not self.host.sessions.resources(JID.make(username, self.host.name)):
            return digest  # nobody online to keep it for
        # setdefault: a vCard set while this read was under way has already put the newer hash in.
        return self._hashes.setdefault(username, digest)

    @hook(hooks.RESOURCE_UNBOUND)
    async def forget_hash(self, session: LocalSession) -> None:
        """The cache holds online users only: drop the hash with the user's last resource."""
        jid = session.jid
        if jid.local is not None and not self.host.sessions.resources(jid.bare()):
            self._hashes.pop(jid.local, None)

    # -- account deletion ------------------------------------------------------------------------------------

    @hook(hooks.ACCOUNT_DELETED)
    async def delete_account(self, event: hooks.AccountDeleted) -> None:
        if event.host != self.host.name:
            return
        await self.host.storage.keyval.delete(self.host.name, event.username, STORE, KEY)
        self._hashes.pop(event.username, None)
