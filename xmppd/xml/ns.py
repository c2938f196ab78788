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
NS_ROSTERVER: Final = "urn:xmpp:features:rosterver"
NS_PRE_APPROVAL: Final = "urn:xmpp:features:pre-approval"

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

# XEP-0012: Last Activity
NS_LAST: Final = "jabber:iq:last"

# XEP-0049: Private XML Storage
NS_PRIVATE: Final = "jabber:iq:private"

# XEP-0054: vcard-temp, and XEP-0153: vCard-Based Avatars
NS_VCARD: Final = "vcard-temp"
NS_VCARD_UPDATE: Final = "vcard-temp:x:update"

# XEP-0077: In-Band Registration
NS_REGISTER: Final = "jabber:iq:register"
NS_REGISTER_FEATURE: Final = "http://jabber.org/features/iq-register"

# XEP-0085: Chat State Notifications
NS_CHATSTATES: Final = "http://jabber.org/protocol/chatstates"

# XEP-0191: Blocking Command
NS_BLOCKING: Final = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS: Final = "urn:xmpp:blocking:errors"

# XEP-0203: Delayed Delivery
NS_DELAY: Final = "urn:xmpp:delay"

# XEP-0334: Message Processing Hints
NS_HINTS: Final = "urn:xmpp:hints"

# XEP-0359: Unique and Stable Stanza IDs
NS_SID: Final = "urn:xmpp:sid:0"
