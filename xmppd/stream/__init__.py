"""Sans-IO XMPP streams: bytes in, events and bytes out (the h11/h2 pattern)."""
