"""In-memory drivers for the sans-IO c2s stream: a minimal client side that parses what the server sends.

``ClientEnd`` plays the client: it writes XML to a ``C2SStream`` and parses the stream's output with our own
parser, so tests assert on elements and events, never on sockets. ``establish()`` runs a whole negotiation
(header, SASL PLAIN over an already secured stream, bind) and returns the established pair.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from xmppd.jid import JID
from xmppd.sasl.scram import derive_keys
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import Authenticated, BindRequested, CredentialsNeeded, Event, ResourceBound
from xmppd.xml.element import Element
from xmppd.xml.parser import ParseEvent, StreamOpen, StreamParser

HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='{host}' version='1.0'>"
)

_KEYS_CACHE: dict[str, dict[str, object]] = {}


def keys_for(password: str) -> dict[str, object]:
    """SCRAM keys for a password (cached: PBKDF2 is slow and tests reuse passwords)."""
    if password not in _KEYS_CACHE:
        _KEYS_CACHE[password] = {
            "sha1": derive_keys(password, "sha1", 4096),
            "sha256": derive_keys(password, "sha256", 4096),
        }
    return _KEYS_CACHE[password]


@dataclass
class ClientEnd:
    """The client's view of one ``C2SStream``."""

    stream: C2SStream
    parser: StreamParser = field(default_factory=StreamParser)
    received: list[ParseEvent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def send(self, xml: str | bytes) -> list[Event]:
        """Feed the server stream; returns its events and collects what it answered."""
        data = xml.encode() if isinstance(xml, str) else xml
        events = self.stream.receive_data(data)
        self.events.extend(events)
        self.pull()
        return events

    def pull(self) -> list[ParseEvent]:
        """Parse what the server queued since the last call."""
        data = self.stream.data_to_send()
        parsed = self.parser.feed(data) if data else []
        self.received.extend(parsed)
        return parsed

    def restart(self) -> None:
        self.parser.reset()

    def elements(self) -> list[Element]:
        return [item for item in self.received if isinstance(item, Element)]

    def last(self) -> Element:
        return self.elements()[-1]

    def take(self) -> list[Element]:
        """The elements received so far, forgetting them."""
        items = self.elements()
        self.received.clear()
        return items


def open_stream(end: ClientEnd, host: str = "localhost", header: str = HEADER) -> Element:
    """Send a header (``header`` with the host filled in); returns the features the server offered."""
    end.send(header.format(host=host))
    assert isinstance(end.received[0], StreamOpen), end.received
    features = end.elements()[-1]
    end.received.clear()
    return features


def establish(
    username: str = "alice",
    resource: str | None = "phone",
    *,
    host: str = "localhost",
    password: str = "secret",
    config: C2SConfig | None = None,
    header: str = HEADER,
) -> ClientEnd:
    """A stream negotiated up to ESTABLISHED for ``username@host/resource`` (PLAIN on a secured stream)."""
    stream = C2SStream(config or C2SConfig(hosts=frozenset({host})), secured=True)
    end = ClientEnd(stream)
    open_stream(end, host, header)
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    events = end.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    assert isinstance(events[-1], CredentialsNeeded), events
    events = stream.provide_credentials(keys_for(password))  # type: ignore[arg-type]
    end.events.extend(events)
    end.pull()
    assert any(isinstance(e, Authenticated) for e in events), events
    end.restart()
    end.received.clear()
    open_stream(end, host, header)
    body = f"<resource>{resource}</resource>" if resource else ""
    events = end.send(
        f"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{body}</bind></iq>"
    )
    assert isinstance(events[-1], BindRequested), events
    jid = JID.make(username, host, resource or "generated")
    events = stream.bind_complete(jid)
    end.events.extend(events)
    end.pull()
    assert isinstance(events[0], ResourceBound)
    end.received.clear()
    return end
