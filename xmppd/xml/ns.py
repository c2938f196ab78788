"""Namespace constants, one per line, grouped by specification."""

from typing import Final

# XML itself
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"

# RFC 6120
NS_STREAMS: Final = "http://etherx.jabber.org/streams"
NS_CLIENT: Final = "jabber:client"
NS_SERVER: Final = "jabber:server"
NS_TLS: Final = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL: Final = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND: Final = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAM_ERRORS: Final = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"

# RFC 3921 (legacy session establishment, answered for old clients)
NS_SESSION: Final = "urn:ietf:params:xml:ns:xmpp-session"

# RFC 6121
NS_ROSTER: Final = "jabber:iq:roster"

# XEP-0030: Service Discovery
NS_DISCO_INFO: Final = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS: Final = "http://jabber.org/protocol/disco#items"

# XEP-0092: Software Version
NS_VERSION: Final = "jabber:iq:version"

# XEP-0199: XMPP Ping
NS_PING: Final = "urn:xmpp:ping"

# XEP-0202: Entity Time
NS_TIME: Final = "urn:xmpp:time"

# XEP-0440: SASL Channel-Binding Type Capability
NS_SASL_CB: Final = "urn:xmpp:sasl-cb:0"
