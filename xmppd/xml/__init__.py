"""XML for XMPP: the element type, the hardened incremental parser and the serializer."""
