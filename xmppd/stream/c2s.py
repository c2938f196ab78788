"""The server side of a client-to-server stream, sans-IO (RFC 6120).

A transport feeds ``receive_data(bytes)`` and gets ``Event`` values back; what the server must send accumulates
in ``data_to_send()``. Inputs that come from outside the bytes - the TLS handshake finished, the stored credentials
looked up, an in-band registration carried out, the resource binding decided, a timeout - are method calls too.
Nothing here awaits, reads a socket or touches storage.

A stream error is queued (header first if the server has not sent one yet, then ``<stream:error/>`` and the
closing tag) and reported as ``StreamClosed(error, by_peer=False)``: the driver flushes and closes the connection.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from xmppd.errors import JIDError, SASLFailure, StanzaError, StreamError
from xmppd.jid import JID, prep_domainpart, prep_localpart, prep_resourcepart
from xmppd.sasl import (
    Challenge,
    HashName,
    NeedCredentials,
    ScramKeys,
    ServerMechanism,
    Step,
    Success,
    available_mechanisms,
    create_mechanism,
)
from xmppd.stream.events import (
    Authenticated,
    AuthFailed,
    BindRequested,
    CredentialsNeeded,
    Event,
    RegistrationRequested,
    ResourceBound,
    StanzaReceived,
    StreamClosed,
    StreamOpened,
    TLSRequested,
)
from xmppd.stream.state import C2SState, Input, accepts
from xmppd.xml.element import Element
from xmppd.xml.ns import (
    NS_BIND,
    NS_CLIENT,
    NS_REGISTER,
    NS_REGISTER_FEATURE,
    NS_SASL,
    NS_SASL_CB,
    NS_SESSION,
    NS_STREAMS,
    NS_TLS,
)
from xmppd.xml.parser import DEFAULT_MAX_STANZA_SIZE, ParseEvent, StreamOpen, StreamParser
from xmppd.xml.serializer import STREAM_FOOTER, escape_attr, serialize, stream_header
from xmppd.xml.stanza import STANZA_NAMES, check_stanza, error_reply, reply, stream_error_element

_PREFIXES = {NS_STREAMS: "stream"}

# States in which parsed input waits: for an answer from outside (credentials, registration, binding, the TLS
# handshake), or for nothing (the stream is closed).
_PAUSED = (
    C2SState.SASL_WAITING,
    C2SState.REGISTER_WAITING,
    C2SState.BIND_WAITING,
    C2SState.CLOSED,
    C2SState.TLS_STARTING,
)

# The start of each stanza's start tag as a client writes it in the default namespace, where the server's 'from'
# goes into a stanza it forwards as it came (``Element.source``).
_OPEN_TAGS = {name: b"<" + name.encode() for name in STANZA_NAMES}


@dataclass(frozen=True, slots=True)
class C2SConfig:
    """What a client stream needs to know about the server's policy."""

    hosts: frozenset[str]
    """The domains served; a header addressed elsewhere gets host-unknown."""
    tls_available: bool = True
    """Whether STARTTLS can be offered (there is a certificate)."""
    tls_required: bool = True
    """RFC 6120 section 5.3.1: TLS mandatory-to-negotiate before anything else."""
    plain_allowed: bool = True
    """Offer SASL PLAIN (never without TLS)."""
    max_stanza_size: int = DEFAULT_MAX_STANZA_SIZE
    max_auth_failures: int = 3
    """RFC 6120 section 6.4.5 asks for 2 to 5 retries; past this many failures the stream is closed."""
    scram_iterations: int = 4096
    """The iteration count new accounts get: an unknown user is shown (and costs) the same, so it looks real."""
    server_secret: bytes | None = field(default=None, repr=False)
    """A persistent secret from which unknown users' fake SCRAM salts are derived (stable across restarts)."""
    extra_features: tuple[Element, ...] = field(default=())
    """Features offered once the resource is bound (stream management, client state indication, ...)."""
    registration_hosts: frozenset[str] = frozenset()
    """The domains where anyone may register an account in-band before authenticating (XEP-0077 section 3.1);
    offered and accepted over TLS only. Elsewhere a registration IQ before authentication is not-authorized."""
    features_cache: dict[tuple[object, ...], tuple[bytes, tuple[str, ...]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """The serialized feature lists (and SASL mechanisms) offered so far, by what they depend on: a few lists go
    to every client, each serialized once (filled by the streams)."""


@dataclass(frozen=True, slots=True)
class CheckedCredentials:
    """What ``C2SStream.check_credentials`` found, for ``C2SStream.credentials_checked``."""

    mechanism: ServerMechanism
    outcome: Step | SASLFailure


class C2SStream:
    """One client stream; see the module docstring."""

    def __init__(
        self,
        config: C2SConfig,
        *,
        secured: bool = False,
        channel_bindings: Mapping[str, bytes] | None = None,
        stream_id_factory: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.config = config
        self.state = C2SState.HEADER
        self.secured = secured
        self.channel_bindings: Mapping[str, bytes] = channel_bindings or {}
        self.host: str | None = None
        self.jid: JID | None = None
        self.authenticated_as: JID | None = None
        self.lang = "en"
        self._stream_id_factory = stream_id_factory
        self._parser = StreamParser(max_stanza_size=config.max_stanza_size)
        self._pending: list[ParseEvent] = []  # (a list: an empty deque holds a 64-slot block per session)
        self._out: list[bytes] = []
        self._header_sent = False
        self._mechanism: ServerMechanism | None = None
        self._offered_mechanisms: tuple[str, ...] = ()
        self._sasl_username: str | None = None
        self._auth_failures = 0
        self._registration_type: str | None = None
        self._registered = False
        self._registration_failures = 0
        self._bind_id: str | None = None
        self._jid_str = ""
        self._bare_str = ""
        self._plain_context = False
        """Whether the client's stream header declared no namespace but the defaults (``Element.source``)."""
        self._from_attr = b""

    # -- output ----------------------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    @property
    def has_data_to_send(self) -> bool:
        """Whether ``data_to_send()`` would return anything."""
        return bool(self._out)

    def send(self, element: Element) -> None:
        """Queue a stanza (or any top-level element) for the client; ignored once the stream is closed."""
        if self.state is C2SState.CLOSED:
            return
        source = element.source
        if source is not None:
            # A stanza a client sent, unchanged but for the server's 'from': its bytes mean the same here.
            self._out.append(source)
            return
        self._out.append(serialize(element, NS_CLIENT, _PREFIXES).encode())

    def send_raw(self, data: bytes) -> None:
        """Queue bytes already serialized for this stream's namespace context (forwarded stanzas)."""
        if self.state is not C2SState.CLOSED:
            self._out.append(data)

    def send_keepalive(self) -> None:
        """A white space keepalive (RFC 6120 section 4.6.1)."""
        if self.state is not C2SState.CLOSED:
            self._out.append(b" ")

    def hibernate(self) -> bool:
        """Free what an idle stream needs only once more bytes come (the parser's state); True when freed.

        For a driver to call when the client has gone quiet: nothing changes for the client, whose next bytes are
        parsed as if nothing had happened. False where the stream is in the middle of something (input pending, a
        stanza or tag half received).
        """
        if self._pending or self.state is C2SState.CLOSED:
            return False
        return self._parser.hibernate()

    @property
    def is_established(self) -> bool:
        return self.state is C2SState.ESTABLISHED

    @property
    def is_closed(self) -> bool:
        return self.state is C2SState.CLOSED

    # -- inputs ----------------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the client; returns the events they complete.

        Protocol violations do not raise: the stream error is queued and ``StreamClosed`` is returned.
        """
        if self.state is C2SState.CLOSED or self.state is C2SState.TLS_STARTING:
            # Bytes after <proceed/> and before the handshake would be plaintext injected into the TLS layer
            # (RFC 6120 section 5.4.3.3): never process them.
            return []
        try:
            self._pending.extend(self._parser.feed(data))
        except StreamError as error:
            return self._fail(error)
        return self._process()

    def receive_eof(self) -> list[Event]:
        """The client closed the connection without a closing tag."""
        if self.state is C2SState.CLOSED:
            return []
        self.state = C2SState.CLOSED
        return [StreamClosed(None, by_peer=True)]

    def tls_established(self, channel_bindings: Mapping[str, bytes] | None = None) -> list[Event]:
        """The TLS handshake after ``<proceed/>`` completed; the client restarts the stream next."""
        if self.state is not C2SState.TLS_STARTING:
            raise RuntimeError("tls_established() outside of STARTTLS")
        self.secured = True
        self.channel_bindings = channel_bindings or {}
        self._restart()
        return []

    def provide_credentials(self, keys: Mapping[HashName, ScramKeys] | None) -> list[Event]:
        """Answer ``CredentialsNeeded``: the stored keys of the user, or None when there is no such account.

        For PLAIN this derives a key from the password (PBKDF2): a driver that must not block calls
        ``check_credentials`` instead, runs what it returns off its event loop and hands the outcome to
        ``credentials_checked``.

        Raises:
            RuntimeError: when no ``CredentialsNeeded`` is pending (the stream closed meanwhile, say): the driver
                answers only a request that is still pending.
        """
        return self.credentials_checked(self.check_credentials(keys)())

    def check_credentials(
        self, keys: Mapping[HashName, ScramKeys] | None
    ) -> Callable[[], CheckedCredentials]:
        """The first half of ``provide_credentials``: the mechanism's work on the keys, as a function that
        touches nothing of the stream, so that a driver may run it in another thread while the stream goes on
        (and closes, say) in its own.

        Raises:
            RuntimeError: as ``provide_credentials``.
        """
        mechanism = self._mechanism
        if self.state is not C2SState.SASL_WAITING or mechanism is None:
            raise RuntimeError("provide_credentials() without CredentialsNeeded")

        def check() -> CheckedCredentials:
            try:
                return CheckedCredentials(mechanism, mechanism.provide_credentials(keys))
            except SASLFailure as failure:
                return CheckedCredentials(mechanism, failure)

        return check

    def credentials_checked(self, checked: CheckedCredentials) -> list[Event]:
        """The second half of ``provide_credentials``: the outcome of ``check_credentials``.

        Raises:
            RuntimeError: when that check was not for the pending ``CredentialsNeeded``.
        """
        if self.state is not C2SState.SASL_WAITING or self._mechanism is not checked.mechanism:
            raise RuntimeError("provide_credentials() without CredentialsNeeded")
        events: list[Event] = []
        outcome = checked.outcome
        try:
            if isinstance(outcome, SASLFailure):
                self._sasl_failed(outcome.condition, events)
            else:
                self._sasl_step(outcome, events)
        except StreamError as error:
            return events + self._fail(error)
        return events + self._process()

    def registration_answered(self, answer: Element) -> list[Event]:
        """Answer ``RegistrationRequested`` with the iq result or error for the client (XEP-0077 section 3.1)."""
        if self.state is not C2SState.REGISTER_WAITING or self._registration_type is None:
            raise RuntimeError("registration_answered() without RegistrationRequested")
        answer_type = answer.attrs.get("type")
        if answer.name != "iq" or answer_type not in ("result", "error"):
            raise ValueError("an IQ is answered with an iq result or error")
        self.send(answer)
        if self._registration_type == "set":
            if answer_type == "result":
                self._registered = True
            else:
                self._registration_failures += 1
        self._registration_type = None
        self.state = C2SState.NEGOTIATING
        return self._process()

    def bind_complete(self, jid: JID) -> list[Event]:
        """Answer ``BindRequested``: the full JID the server bound."""
        if self.state is not C2SState.BIND_WAITING or self._bind_id is None:
            raise RuntimeError("bind_complete() without BindRequested")
        payload = Element("bind", NS_BIND)
        payload.add("jid", text=str(jid))
        self.send(Element("iq", NS_CLIENT, {"type": "result", "id": self._bind_id}, [payload]))
        self._bind_id = None
        # Negotiation is over: what only it needed goes (a session is long-lived, its negotiation is not).
        self.channel_bindings = {}
        self._offered_mechanisms = ()
        self.jid = jid
        self._jid_str = str(jid)
        self._bare_str = str(jid.bare())
        self._from_attr = b" from='" + escape_attr(self._jid_str).encode() + b"'"
        # Stanzas keep their bytes for forwarding where those mean the same in every client stream.
        self._parser.keep_source = self._plain_context
        self.state = C2SState.ESTABLISHED
        return [ResourceBound(jid), *self._process()]

    def bind_failed(self, error: StanzaError) -> list[Event]:
        """Answer ``BindRequested`` with an error (RFC 6120 section 7.6.2): the client may try again."""
        if self.state is not C2SState.BIND_WAITING or self._bind_id is None:
            raise RuntimeError("bind_failed() without BindRequested")
        request = Element("iq", NS_CLIENT, {"type": "set", "id": self._bind_id})
        self.send(error_reply(request, error))
        self._bind_id = None
        self.state = C2SState.NEGOTIATING
        return self._process()

    def close(self, error: StreamError | None = None) -> list[Event]:
        """Close the stream from the server side, with a stream error or cleanly."""
        if self.state is C2SState.CLOSED:
            return []
        if error is not None:
            return self._fail(error)
        self._send_header_if_needed()
        self._out.append(STREAM_FOOTER)
        self.state = C2SState.CLOSED
        return [StreamClosed(None, by_peer=False)]

    def connection_timeout(self) -> list[Event]:
        """The connection did not authenticate (or went silent) in time (RFC 6120 section 4.9.3.4)."""
        return self.close(StreamError("connection-timeout"))

    # -- processing -----------------------------------------------------------------------------------------

    def _process(self) -> list[Event]:
        events: list[Event] = []
        pending = self._pending
        try:
            while pending:
                state = self.state
                if state is not C2SState.ESTABLISHED and state in _PAUSED:
                    break
                item = pending.pop(0)
                if isinstance(item, Element):
                    if state is C2SState.ESTABLISHED:
                        self._stanza(item, events)
                    else:
                        self._negotiation_element(item, events)
                elif isinstance(item, StreamOpen):
                    self._header(item, events)
                else:
                    self._peer_closed(events)
        except StreamError as error:
            return events + self._fail(error)
        return events

    def _fail(self, error: StreamError) -> list[Event]:
        if self.state is C2SState.CLOSED:
            return []
        self._send_header_if_needed()
        self._out.append(serialize(stream_error_element(error), NS_CLIENT, _PREFIXES).encode())
        self._out.append(STREAM_FOOTER)
        self.state = C2SState.CLOSED
        self._pending.clear()
        return [StreamClosed(error, by_peer=False)]

    def _peer_closed(self, events: list[Event]) -> None:
        # RFC 6120 section 4.4: answer the closing tag with ours.
        self._send_header_if_needed()
        self._out.append(STREAM_FOOTER)
        self.state = C2SState.CLOSED
        self._pending.clear()
        events.append(StreamClosed(None, by_peer=True))

    def _restart(self) -> None:
        # RFC 6120 sections 5.4.3.3 and 6.4.6: a new stream over the same connection; nothing buffered survives.
        self._parser.reset()
        self._pending.clear()
        self._header_sent = False
        self.state = C2SState.HEADER

    def _send_header_if_needed(self, to: str | None = None) -> None:
        if self._header_sent:
            return
        self._header_sent = True
        self._out.append(
            stream_header(
                content_ns=NS_CLIENT,
                from_=self.host or _first(self.config.hosts),
                to=to,
                stream_id=self._stream_id_factory(),
            )
        )

    # -- the stream header (RFC 6120 section 4.7) -----------------------------------------------------------

    def _header(self, header: StreamOpen, events: list[Event]) -> None:
        if self.state is not C2SState.HEADER:
            raise StreamError("invalid-xml", "unexpected stream header")
        if header.ns != NS_STREAMS or header.name != "stream":
            # RFC 6120 section 4.9.3.10: wrong namespace (or not a stream element at all).
            raise StreamError(
                "invalid-namespace", "the stream element is {http://etherx.jabber.org/streams}stream"
            )
        if header.declared.get("", NS_CLIENT) != NS_CLIENT:
            # RFC 6120 section 4.8.2: the content namespace of a client stream is jabber:client.
            raise StreamError(
                "invalid-namespace", "the default namespace of a client stream is jabber:client"
            )
        host = self._host_from(header.attrs.get("to"))
        self.host = host
        declared = header.declared
        self._plain_context = (
            declared.keys() <= {"", "stream"} and declared.get("stream", NS_STREAMS) == NS_STREAMS
        )
        peer = header.attrs.get("from")
        lang = header.attrs.get("{http://www.w3.org/XML/1998/namespace}lang")
        if lang:
            self.lang = lang
        self._send_header_if_needed(to=peer if peer and self.authenticated_as is None else None)
        version = header.attrs.get("version")
        if not _is_version_1(version):
            # RFC 6120 section 4.7.5: we speak 1.0 only; a peer without a version attribute predates it.
            raise StreamError("unsupported-version", "XMPP 1.0 is required")
        self.state = C2SState.NEGOTIATING
        self._out.append(self._features_bytes())
        events.append(StreamOpened(host))

    def _host_from(self, to: str | None) -> str:
        hosts = self.config.hosts
        if to is None:
            if self.host is not None:
                return self.host
            if len(hosts) == 1:
                return _first(hosts)
            raise StreamError("host-unknown", "the stream header names no host")
        if to in hosts:
            host = to  # a served domain as configured is prepared already
        else:
            try:
                host = prep_domainpart(to)
            except JIDError:
                raise StreamError("host-unknown", "not a domain served here") from None
        if host not in hosts or (self.host is not None and host != self.host):
            # RFC 6120 section 4.9.3.6
            self.host = None
            raise StreamError("host-unknown", "not a domain served here")
        return host

    def _features_bytes(self) -> bytes:
        if self.authenticated_as is None:
            key: tuple[object, ...] = (self.secured, *self.channel_bindings, self._registration_open())
        else:
            key = ()
        cache = self.config.features_cache
        cached = cache.get(key)
        if cached is None:
            features = serialize(self._features(), NS_CLIENT, _PREFIXES).encode()
            cached = (features, self._offered_mechanisms)
            if len(cache) < 64:
                cache[key] = cached
        self._offered_mechanisms = cached[1]
        return cached[0]

    def _features(self) -> Element:
        features = Element("features", NS_STREAMS)
        config = self.config
        if self.authenticated_as is None:
            self._offered_mechanisms = ()
            if not self.secured and config.tls_available:
                starttls = features.add("starttls", NS_TLS)
                if config.tls_required:
                    starttls.add("required")
                    return features  # RFC 6120 section 5.3.1: nothing else before TLS
            self._offered_mechanisms = tuple(
                available_mechanisms(
                    tls=self.secured,
                    channel_bindings=self.channel_bindings,
                    plain_allowed=config.plain_allowed,
                )
            )
            mechanisms = features.add("mechanisms", NS_SASL)
            for name in self._offered_mechanisms:
                mechanisms.add("mechanism", text=name)
            if self.channel_bindings:
                # XEP-0440: which channel-binding types this connection supports.
                cb = features.add("sasl-channel-binding", NS_SASL_CB)
                for cb_type in self.channel_bindings:
                    cb.add("channel-binding", attrs={"type": cb_type})
            if self._registration_open():
                # XEP-0077 section 8: in-band registration announced with the SASL mechanisms (never before TLS:
                # with TLS required nothing else is offered before it, and without TLS registration is closed).
                features.add("register", NS_REGISTER_FEATURE)
            return features
        features.add("bind", NS_BIND)
        features.add("session", NS_SESSION).add("optional")
        for extra in config.extra_features:
            features.append(extra.copy())
        return features

    # -- negotiation elements -------------------------------------------------------------------------------

    def _negotiation_element(self, element: Element, events: list[Event]) -> None:
        state = self.state
        ns, name = element.ns, element.name
        if state is C2SState.HEADER:
            raise StreamError("not-well-formed", "element before the stream header")
        if ns == NS_TLS and name == "starttls" and accepts(state, Input.STARTTLS):
            if self.secured or not self.config.tls_available or self.authenticated_as is not None:
                # RFC 6120 section 5.4.2.2: failure, then close.
                self._out.append(serialize(Element("failure", NS_TLS), NS_CLIENT, _PREFIXES).encode())
                raise StreamError("policy-violation", "STARTTLS is not available now")
            self._out.append(serialize(Element("proceed", NS_TLS), NS_CLIENT, _PREFIXES).encode())
            self.state = C2SState.TLS_STARTING
            self._pending.clear()
            events.append(TLSRequested())
            return
        if ns == NS_SASL:
            self._sasl_element(element, events)
            return
        if self.authenticated_as is None:
            if self._is_registration(element) and accepts(state, Input.REGISTER):
                self._registration_request(element, events)
                return
            # RFC 6120 section 4.9.3.12: nothing else before authentication.
            raise StreamError("not-authorized", "authenticate first")
        if (
            name == "iq"
            and ns == NS_CLIENT
            and element.attrs.get("type") == "set"
            and accepts(state, Input.BIND)
        ):
            payload = element.find()
            if payload is not None and payload.ns == NS_BIND and payload.name == "bind":
                self._bind_request(element, payload, events)
                return
        # RFC 6120 section 7.1: stanzas only after a resource is bound.
        raise StreamError("not-authorized", "bind a resource first")

    def _sasl_element(self, element: Element, events: list[Event]) -> None:
        state = self.state
        name = element.name
        if name == "auth" and accepts(state, Input.AUTH) and self.authenticated_as is None:
            if not self.secured and self.config.tls_required and self.config.tls_available:
                self._sasl_failed("encryption-required", events)
                return
            mechanism_name = element.attrs.get("mechanism", "")
            if mechanism_name not in self._offered_mechanisms:
                self._sasl_failed("invalid-mechanism", events)
                return
            try:
                self._mechanism = create_mechanism(
                    mechanism_name,
                    channel_bindings=self.channel_bindings,
                    tls=self.secured,
                    plain_allowed=self.config.plain_allowed,
                    server_secret=self.config.server_secret,
                    fake_iterations=self.config.scram_iterations,
                )
            except SASLFailure as failure:
                self._sasl_failed(failure.condition, events)
                return
            data = _decode_sasl(element.text)
            if isinstance(data, _Bad):
                self._sasl_failed("incorrect-encoding", events)
                return
            if data is None:
                # RFC 6120 section 6.4.2: no initial response -> an empty challenge.
                self._send_sasl("challenge", b"")
                self.state = C2SState.SASL_CHALLENGED
                return
            self._sasl_receive(data, events)
            return
        if name == "response" and accepts(state, Input.RESPONSE):
            data = _decode_sasl(element.text)
            if isinstance(data, _Bad):
                self._sasl_failed("incorrect-encoding", events)
                return
            self._sasl_receive(data or b"", events)
            return
        if name == "abort" and accepts(state, Input.ABORT):
            self._sasl_failed("aborted", events)
            return
        if self.authenticated_as is None:
            raise StreamError("not-authorized", "unexpected SASL element")
        raise StreamError("policy-violation", "already authenticated")

    def _sasl_receive(self, data: bytes, events: list[Event]) -> None:
        assert self._mechanism is not None
        try:
            self._sasl_step(self._mechanism.receive(data), events)
        except SASLFailure as failure:
            self._sasl_failed(failure.condition, events)

    def _sasl_step(self, step: Step, events: list[Event]) -> None:
        assert self._mechanism is not None
        if isinstance(step, Challenge):
            self._send_sasl("challenge", step.data)
            self.state = C2SState.SASL_CHALLENGED
        elif isinstance(step, NeedCredentials):
            self._sasl_username = step.username
            self.state = C2SState.SASL_WAITING
            assert self.host is not None
            events.append(CredentialsNeeded(self.host, step.username, self._mechanism.name))
        elif isinstance(step, Success):
            assert self.host is not None
            try:
                jid = JID.make(prep_localpart(step.username), self.host)
            except JIDError:
                self._sasl_failed("not-authorized", events)
                return
            if step.authzid and step.authzid not in (str(jid), jid.local):
                # RFC 6120 section 6.4.6: we do not let one account act for another.
                self._sasl_failed("invalid-authzid", events)
                return
            self._send_sasl("success", step.additional_data)
            mechanism = self._mechanism.name
            self._mechanism = None
            self.authenticated_as = jid
            self._restart()
            events.append(Authenticated(jid, mechanism))

    def _sasl_failed(self, condition: str, events: list[Event]) -> None:
        failure = Element("failure", NS_SASL)
        failure.add(condition)
        self._out.append(serialize(failure, NS_CLIENT, _PREFIXES).encode())
        self._mechanism = None
        self.state = C2SState.NEGOTIATING
        events.append(AuthFailed(self._sasl_username, condition))
        self._sasl_username = None
        if condition != "aborted":
            self._auth_failures += 1
        if self._auth_failures >= self.config.max_auth_failures:
            raise StreamError("policy-violation", "too many failed authentication attempts")

    def _send_sasl(self, name: str, data: bytes | None) -> None:
        element = Element(name, NS_SASL)
        if data is not None:
            # RFC 6120 section 6.4.3: "=" stands for empty data.
            element.append(base64.b64encode(data).decode("ascii") if data else "=")
        self._out.append(serialize(element, NS_CLIENT, _PREFIXES).encode())

    # -- in-band registration before authentication (XEP-0077 section 3.1) ----------------------------------

    def _registration_open(self) -> bool:
        # XEP-0077 section 10: registration SHOULD NOT be used unless the channel is secured.
        return self.secured and self.host is not None and self.host in self.config.registration_hosts

    def _is_registration(self, iq: Element) -> bool:
        """A ``jabber:iq:register`` get or set to this stream's host, where registration is open."""
        if iq.name != "iq" or iq.ns != NS_CLIENT or iq.attrs.get("type") not in ("get", "set"):
            return False
        payload = iq.find()
        if payload is None or payload.ns != NS_REGISTER or payload.name != "query":
            return False
        if not self._registration_open():
            return False
        to = iq.attrs.get("to")
        if to is None:
            return True
        try:
            return prep_domainpart(to) == self.host
        except JIDError:
            return False

    def _registration_request(self, iq: Element, events: list[Event]) -> None:
        # The client has no address before it authenticates: a 'from' it claims means nothing, and the answer
        # must not be addressed to it.
        iq.attrs.pop("from", None)
        try:
            check_stanza(iq)  # RFC 6120 section 8.2.3: an id, and exactly one child element
        except StanzaError as error:
            self.send(error_reply(iq, error))
            return
        iq_type = iq.attrs["type"]
        if iq_type == "set" and (
            self._registered or self._registration_failures >= self.config.max_auth_failures
        ):
            # XEP-0077 section 3.1.1: a server MAY answer not-acceptable to an entity that attempts to register too
            # many times before authenticating, or a second identity after registering one.
            text = "one account per connection" if self._registered else "too many registration attempts"
            self.send(error_reply(iq, StanzaError("not-acceptable", text)))
            return
        assert self.host is not None
        self._registration_type = iq_type
        self.state = C2SState.REGISTER_WAITING
        events.append(RegistrationRequested(self.host, iq))

    # -- resource binding (RFC 6120 section 7) --------------------------------------------------------------

    def _bind_request(self, iq: Element, payload: Element, events: list[Event]) -> None:
        resource_text = payload.child_text("resource", NS_BIND)
        resource: str | None = None
        if resource_text:
            try:
                resource = prep_resourcepart(resource_text)
            except JIDError:
                # RFC 6120 section 7.7.2.1: a resource that cannot be processed is bad-request.
                self.send(error_reply(iq, StanzaError("bad-request", "invalid resource")))
                return
        self._bind_id = iq.attrs["id"] if iq.attrs.get("id") else ""
        self.state = C2SState.BIND_WAITING
        events.append(BindRequested(resource))

    # -- stanzas ---------------------------------------------------------------------------------------------

    def _stanza(self, stanza: Element, events: list[Event]) -> None:
        if stanza.ns != NS_CLIENT or stanza.name not in STANZA_NAMES:
            # RFC 6120 section 4.9.3.24
            raise StreamError("unsupported-stanza-type", f"{{{stanza.ns}}}{stanza.name}")
        attrs = stanza.attrs
        sender = attrs.get("from")
        if sender is not None and sender not in (self._jid_str, self._bare_str):
            try:
                claimed = JID.parse(sender)
            except JIDError:
                raise StreamError("invalid-from", "the from address is not valid") from None
            assert self.jid is not None
            if claimed != self.jid and claimed != self.jid.bare():
                # RFC 6120 section 8.1.2.1: the server MUST NOT let a client use another address.
                raise StreamError("invalid-from", "the from address is not yours")
        # RFC 6120 section 8.1.2.1: the server stamps the client's full JID.
        attrs["from"] = self._jid_str
        if stanza.source is not None and sender != self._jid_str:
            stanza.source = self._stamped_source(stanza.source, stanza.name) if sender is None else None
        if stanza.name == "iq" and attrs.get("type") == "set" and "to" not in attrs:
            payload = stanza.find()
            if payload is not None and payload.ns == NS_SESSION and payload.name == "session":
                # RFC 3921 section 3: session establishment is a no-op kept for old clients.
                self.send(reply(stanza))
                return
        events.append(StanzaReceived(stanza))

    def _stamped_source(self, source: bytes, name: str) -> bytes | None:
        """``source`` with the stamped 'from' added to its start tag; None when the tag is not the plain one."""
        open_tag = _OPEN_TAGS[name]
        end = len(open_tag)
        if not source.startswith(open_tag) or source[end] not in b" \t\r\n/>":
            return None  # a prefixed name, as in <c:message xmlns:c='jabber:client'>
        return source[:end] + self._from_attr + source[end:]


class _Bad:
    pass


_BAD = _Bad()


def _decode_sasl(text: str) -> bytes | _Bad | None:
    """SASL data in an element (RFC 6120 section 6.4.2): empty -> None, "=" -> b"", else base64."""
    text = "".join(text.split())
    if not text:
        return None
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _BAD


def _is_version_1(version: str | None) -> bool:
    if version is None:
        return False
    major, _, _minor = version.partition(".")
    return major.strip() == "1"


def _first(hosts: frozenset[str]) -> str:
    return min(hosts) if hosts else "localhost"
