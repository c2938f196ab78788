"""XEP-0030: Service Discovery.

Answers disco#info and disco#items for the server's domain (with the features and identities of exactly the
modules that are enabled) and for an account's bare JID on behalf of its owner (RFC 6121 section 8.5.2.1.3).
"""

from __future__ import annotations

from xmppd.errors import StanzaError
from xmppd.modules.api import Identity, IqRequest, Module, Spec, To, iq_handler
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_DISCO_INFO, NS_DISCO_ITEMS


class Disco(Module):
    name = "disco"
    spec = Spec("XEP-0030", version="2.5rc3")
    features = (NS_DISCO_INFO, NS_DISCO_ITEMS)
    account_features = (NS_DISCO_INFO, NS_DISCO_ITEMS)
    identities = (Identity("server", "im", "xmppd"),)

    @iq_handler("get", NS_DISCO_INFO, "query", to=(To.HOST, To.BARE))
    async def info(self, request: IqRequest) -> Element:
        """Identities and features of the domain, or of the requester's own account (XEP-0030 section 3.1)."""
        node = request.payload.attrs.get("node")
        if node is not None:
            # No node of ours has its own info yet (XEP-0030 section 3.2).
            raise StanzaError("item-not-found")
        result = Element("query", NS_DISCO_INFO)
        if request.to.local is None:
            identities = list(self.host.identities)
            features = self.host.features
        else:
            self._check_owner(request)
            identities = [Identity("account", "registered")]
            features = self.host.account_features
        for identity in identities:
            attrs = {"category": identity.category, "type": identity.type}
            if identity.name:
                attrs["name"] = identity.name
            result.add("identity", attrs=attrs)
        for feature in sorted(set(features)):
            result.add("feature", attrs={"var": feature})
        return result

    @iq_handler("get", NS_DISCO_ITEMS, "query", to=(To.HOST, To.BARE))
    async def items(self, request: IqRequest) -> Element:
        """Items of the domain or of an account: none yet (XEP-0030 section 4)."""
        if request.payload.attrs.get("node") is not None:
            raise StanzaError("item-not-found")
        if request.to.local is not None:
            self._check_owner(request)
        return Element("query", NS_DISCO_ITEMS)

    @staticmethod
    def _check_owner(request: IqRequest) -> None:
        # An account's disco information is its owner's; to anyone else the account behaves as if absent
        # (RFC 6121 section 8.5.1 answers unknown accounts with service-unavailable too).
        if request.sender.bare() != request.to:
            raise StanzaError("service-unavailable")
