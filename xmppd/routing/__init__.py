"""Routing: the session table and the RFC 6120/6121 delivery rules."""
