"""Events a stream hands to whoever drives it: frozen values, compared whole in tests."""

from __future__ import annotations

from dataclasses import dataclass

from xmppd.errors import StreamError
from xmppd.jid import JID
from xmppd.xml.element import Element


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The peer opened (or restarted) the stream, addressed to ``host``."""

    host: str


@dataclass(frozen=True, slots=True)
class TLSRequested:
    """``<proceed/>`` is queued: flush ``data_to_send()``, then start TLS and call ``tls_established()``."""


@dataclass(frozen=True, slots=True)
class CredentialsNeeded:
    """Look up the stored SCRAM keys of ``username`` on ``host`` and call ``provide_credentials()``."""

    host: str
    username: str
    mechanism: str


@dataclass(frozen=True, slots=True)
class RegistrationRequested:
    """Before authentication, the client sent ``iq``, a ``jabber:iq:register`` get or set to ``host`` (XEP-0077
    section 3.1): carry it out and call ``registration_answered()`` with the reply (result or error).

    The stream has checked the IQ (RFC 6120 section 8.2.3) and removed any ``from``: the client has no address yet.
    """

    host: str
    iq: Element


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """A SASL attempt failed with ``condition`` (``username`` when the client named one)."""

    username: str | None
    condition: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """SASL succeeded for ``jid`` (a bare JID)."""

    jid: JID
    mechanism: str


@dataclass(frozen=True, slots=True)
class BindRequested:
    """The client asked to bind ``resource`` (None: the server chooses); answer with ``bind_complete()``."""

    resource: str | None


@dataclass(frozen=True, slots=True)
class ResourceBound:
    """The stream is established for ``jid`` (a full JID): stanzas may flow."""

    jid: JID


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A stanza from the client, ``from`` already stamped with the client's full JID."""

    stanza: Element


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The stream is over: flush ``data_to_send()`` and close the connection.

    ``error`` is the stream error sent or received, if any; ``by_peer`` tells who closed.
    """

    error: StreamError | None
    by_peer: bool


Event = (
    StreamOpened
    | TLSRequested
    | CredentialsNeeded
    | RegistrationRequested
    | AuthFailed
    | Authenticated
    | BindRequested
    | ResourceBound
    | StanzaReceived
    | StreamClosed
)
