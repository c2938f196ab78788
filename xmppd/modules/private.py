"""XEP-0049: Private XML Storage.

A user keeps arbitrary XML fragments on the server, each under the name and namespace of its root element
(``jabber:iq:private``), readable and writable by that user only. Each fragment is one value of the key/value
store ``private``, keyed ``{namespace}name``.
"""

from __future__ import annotations

from typing import Final

from xmppd import hooks
from xmppd.errors import StanzaError
from xmppd.modules.api import IqRequest, Module, Spec, To, hook, iq_handler
from xmppd.xml.document import parse_document
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_PRIVATE
from xmppd.xml.serializer import to_bytes

STORE: Final = "private"

# XEP-0049 section 2.3: namespaces reserved in Jabber, which may not be stored here.
RESERVED_PREFIXES: Final = ("jabber:", "http://jabber.org/")
RESERVED_NAMESPACES: Final = frozenset({"vcard-temp"})

MAX_KEY_LENGTH: Final = 1024
"""Longest ``{namespace}name`` accepted: keys are indexed by the SQL backends, which bound an index entry."""


def storage_key(element: Element) -> str:
    """The key a fragment is stored under: its root element's namespace and name in Clark notation."""
    return "{" + element.ns + "}" + element.name


def _check_namespace(element: Element) -> None:
    ns = element.ns
    if not ns or ns == NS_PRIVATE:
        # Section 2.3: the fragment's root MUST be "scoped by its own namespace" (a child without xmlns
        # inherits jabber:iq:private); otherwise Not Acceptable.
        raise StanzaError("not-acceptable", "the stored element needs a namespace of its own")
    if ns in RESERVED_NAMESPACES or ns.startswith(RESERVED_PREFIXES):
        # Section 2.3 and section 3 (error conditions): a reserved namespace is refused with Not Acceptable.
        raise StanzaError("not-acceptable", f"the namespace {ns!r} is reserved")
    if len(storage_key(element)) > MAX_KEY_LENGTH:
        raise StanzaError("not-acceptable", "namespace and element name too long")


class Private(Module):
    name = "private"
    spec = Spec("XEP-0049", version="1.2")
    # XEP-0049 defines no disco feature; servers customarily advertise the namespace so clients can find it.
    features = (NS_PRIVATE,)
    account_features = (NS_PRIVATE,)

    def _owner(self, request: IqRequest) -> str:
        """The username whose storage ``request`` may use: only its own (section 2.3, section 4)."""
        if request.sender.bare() != request.to:
            # Section 2.3: "Forbidden" or "Service Unavailable" for another user's data; the former is preferable.
            # Section 4: nobody but an authorized resource of the user may touch it.
            raise StanzaError("forbidden", "private XML storage belongs to its owner alone")
        username = request.to.local
        assert username is not None
        return username

    @iq_handler("get", NS_PRIVATE, "query", to=(To.BARE,))
    async def get(self, request: IqRequest) -> Element:
        """The stored fragment named by the query's child; the empty child when nothing is stored under it."""
        username = self._owner(request)
        wanted = request.payload.elements()
        if not wanted:
            # Section 2.3 and section 3: a get without a child element SHOULD be answered with "Bad Format".
            raise StanzaError("bad-request", "name the element to retrieve")
        for element in wanted:
            _check_namespace(element)
        if len({element.ns for element in wanted}) > 1:
            # Section 2.3: a client MUST NOT query for more than one namespace in a single get.
            raise StanzaError("bad-request", "one namespace per request")
        store = self.host.storage.keyval
        result = Element("query", NS_PRIVATE)
        for element in wanted:
            data = await store.get(self.host.name, username, STORE, storage_key(element))
            # Nothing stored: the element as asked for, empty (the result has the form of the request).
            result.append(parse_document(data) if data is not None else Element(element.name, element.ns))
        return result

    @iq_handler("set", NS_PRIVATE, "query", to=(To.BARE,))
    async def set(self, request: IqRequest) -> None:
        """Store each child of the query under its name and namespace, replacing what was there."""
        username = self._owner(request)
        fragments = request.payload.elements()
        if not fragments:
            # Section 2.3: at least one child element MUST be included; otherwise Not Acceptable.
            raise StanzaError("not-acceptable", "nothing to store")
        for element in fragments:
            _check_namespace(element)
        # Section 2.3: a set MAY carry several elements (of one namespace or more); each is stored on its own.
        keys = [storage_key(element) for element in fragments]
        if len(set(keys)) != len(keys):
            raise StanzaError("bad-request", "one element per name and namespace in a request")
        store = self.host.storage.keyval
        for key, element in zip(keys, fragments, strict=True):
            if element.attrs or element.children:
                await store.set(self.host.name, username, STORE, key, to_bytes(element))
            else:
                # Storing the empty element is storing nothing: a get answers it the same either way.
                await store.delete(self.host.name, username, STORE, key)

    @hook(hooks.ACCOUNT_DELETED)
    async def delete_account(self, event: hooks.AccountDeleted) -> None:
        if event.host != self.host.name:
            return
        store = self.host.storage.keyval
        for key in await store.keys(self.host.name, event.username, STORE):
            await store.delete(self.host.name, event.username, STORE, key)
