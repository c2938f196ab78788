"""The servers the comparison runs: xmppd, Prosody and ejabberd, behind one interface (``Server``)."""

from __future__ import annotations

from benchmarks.servers.base import Certificate, Server, ServerError, ensure_certificate
from benchmarks.servers.ejabberd import Ejabberd
from benchmarks.servers.prosody import Prosody
from benchmarks.servers.xmppd import Xmppd

SERVERS: dict[str, type[Server]] = {"xmppd": Xmppd, "prosody": Prosody, "ejabberd": Ejabberd}

__all__ = [
    "SERVERS",
    "Certificate",
    "Ejabberd",
    "Prosody",
    "Server",
    "ServerError",
    "Xmppd",
    "ensure_certificate",
]
