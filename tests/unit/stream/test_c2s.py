"""The c2s state machine through an in-memory client (RFC 6120 sections 4 to 8)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.helpers.streams import HEADER, ClientEnd, establish, keys_for, open_stream
from xmppd.errors import StreamError
from xmppd.jid import JID
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import (
    Authenticated,
    AuthFailed,
    BindRequested,
    CredentialsNeeded,
    StanzaReceived,
    StreamClosed,
    StreamOpened,
    TLSRequested,
)
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_BIND, NS_SASL, NS_STANZAS, NS_STREAM_ERRORS, NS_STREAMS, NS_TLS
from xmppd.xml.parser import StreamClose, StreamOpen, StreamParser

CONFIG = C2SConfig(hosts=frozenset({"localhost"}))
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def new(
    secured: bool = False, config: C2SConfig = CONFIG, bindings: dict[str, bytes] | None = None
) -> ClientEnd:
    return ClientEnd(C2SStream(config, secured=secured, channel_bindings=bindings))


def stream_error(end: ClientEnd) -> str:
    """The condition of the stream error the server sent, checking the stream was closed after it."""
    assert isinstance(end.received[-1], StreamClose), end.received
    error = end.elements()[-1]
    assert (error.ns, error.name) == (NS_STREAMS, "error")
    return next(iter(error.find_all(ns=NS_STREAM_ERRORS))).name


def plain(username: str, password: str) -> str:
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    return f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>"


# -- stream header -------------------------------------------------------------------------------------------


def test_header_answered_with_header_and_starttls_required() -> None:
    end = new()
    events = end.send(HEADER.format(host="localhost"))
    assert events == [StreamOpened("localhost")]
    header = end.received[0]
    assert isinstance(header, StreamOpen)
    assert header.attrs["from"] == "localhost" and header.attrs["version"] == "1.0" and header.attrs["id"]
    features = end.elements()[0]
    assert [(c.ns, c.name) for c in features.elements()] == [(NS_TLS, "starttls")]
    starttls = features.find("starttls", NS_TLS)
    assert starttls is not None and starttls.find("required") is not None


@pytest.mark.parametrize(
    ("header", "condition"),
    [
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>",
            "invalid-namespace",
        ),
        (
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
            "to='localhost' version='1.0'>",
            "invalid-namespace",
        ),
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
            "to='elsewhere.example' version='1.0'>",
            "host-unknown",
        ),
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>",
            "unsupported-version",
        ),
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
            "to='localhost' version='2.0'>",
            "unsupported-version",
        ),
        ("<!DOCTYPE x [<!ENTITY a 'b'>]>", "restricted-xml"),
        ("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' <<", "not-well-formed"),
    ],
)
def test_bad_headers_get_header_then_stream_error(header: str, condition: str) -> None:
    end = new()
    events = end.send(header)
    assert len(events) == 1 and isinstance(events[0], StreamClosed)
    assert events[0].error is not None and events[0].error.condition == condition
    # RFC 6120 section 4.9.1.2: the server sends its own header before the error.
    assert isinstance(end.received[0], StreamOpen)
    assert stream_error(end) == condition
    assert end.stream.is_closed
    assert end.send("<presence/>") == []


def test_missing_to_uses_the_only_host() -> None:
    end = new()
    end.send(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    assert end.events == [StreamOpened("localhost")]


def test_missing_to_with_several_hosts_is_host_unknown() -> None:
    end = new(config=C2SConfig(hosts=frozenset({"a.example", "b.example"})))
    end.send(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    assert stream_error(end) == "host-unknown"


# -- before authentication -----------------------------------------------------------------------------------


def test_stanza_before_authentication_is_not_authorized() -> None:
    end = new()
    open_stream(end)
    end.send("<message to='bob@localhost'><body>hi</body></message>")
    assert stream_error(end) == "not-authorized"


def test_auth_before_required_tls_fails_with_encryption_required() -> None:
    end = new()
    open_stream(end)
    events = end.send(plain("alice", "secret"))
    assert events == [AuthFailed(None, "encryption-required")]
    failure = end.last()
    assert (failure.ns, failure.name) == (NS_SASL, "failure")
    assert failure.find("encryption-required") is not None


def test_starttls_then_restart_offers_sasl() -> None:
    end = new()
    open_stream(end)
    events = end.send(f"<starttls xmlns='{NS_TLS}'/>")
    assert events == [TLSRequested()]
    assert end.last().name == "proceed"
    # Plaintext after <proceed/> is never processed (RFC 6120 section 5.4.3.3).
    assert end.stream.receive_data(b"<message/>") == []
    end.stream.tls_established({"tls-exporter": b"x" * 32})
    end.restart()
    end.received.clear()
    features = open_stream(end)
    mechanisms = features.find("mechanisms", NS_SASL)
    assert mechanisms is not None
    offered = [m.text for m in mechanisms.elements()]
    assert offered[:2] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
    assert "PLAIN" in offered and "SCRAM-SHA-256" in offered
    cb = features.find("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
    assert cb is not None and [c.attrs["type"] for c in cb.elements()] == ["tls-exporter"]
    assert features.find("starttls", NS_TLS) is None


def test_starttls_twice_fails() -> None:
    end = new(secured=True)
    open_stream(end)
    end.send(f"<starttls xmlns='{NS_TLS}'/>")
    assert stream_error(end) == "policy-violation"
    assert any(e.name == "failure" and e.ns == NS_TLS for e in end.elements())


def test_without_tls_plain_is_not_offered() -> None:
    end = new(config=C2SConfig(hosts=frozenset({"localhost"}), tls_available=False, tls_required=False))
    features = open_stream(end)
    mechanisms = features.find("mechanisms", NS_SASL)
    assert mechanisms is not None
    assert "PLAIN" not in [m.text for m in mechanisms.elements()]


# -- SASL ----------------------------------------------------------------------------------------------------


def test_plain_success_restarts_the_stream() -> None:
    end = new(secured=True)
    open_stream(end)
    events = end.send(plain("alice", "secret"))
    assert events == [CredentialsNeeded("localhost", "alice", "PLAIN")]
    events = end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    assert events == [Authenticated(JID.parse("alice@localhost"), "PLAIN")]
    assert end.last().name == "success"
    end.restart()
    end.received.clear()
    features = open_stream(end)
    assert features.find("bind", NS_BIND) is not None
    assert features.find("mechanisms", NS_SASL) is None


def test_plain_wrong_password_and_unknown_user_fail_alike() -> None:
    end = new(secured=True)
    open_stream(end)
    end.send(plain("alice", "wrong"))
    events = end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    assert events == [AuthFailed("alice", "not-authorized")]
    end.send(plain("nobody", "x"))
    events = end.stream.provide_credentials(None)
    end.pull()
    assert events == [AuthFailed("nobody", "not-authorized")]
    assert [e.name for e in end.elements()] == ["failure", "failure"]
    assert not end.stream.is_closed


def test_a_credentials_check_runs_apart_from_the_stream() -> None:
    end = new(secured=True)
    open_stream(end)
    end.send(plain("alice", "secret"))
    check = end.stream.check_credentials(keys_for("secret"))  # type: ignore[arg-type]
    assert not end.stream.has_data_to_send  # nothing happens to the stream until the outcome comes back
    events = end.stream.credentials_checked(check())
    end.pull()
    assert events == [Authenticated(JID.parse("alice@localhost"), "PLAIN")]
    assert end.last().name == "success"


def test_a_stream_closed_during_a_credentials_check_stays_closed() -> None:
    end = new(secured=True)
    open_stream(end)
    end.send(plain("alice", "wrong"))
    check = end.stream.check_credentials(keys_for("secret"))  # type: ignore[arg-type]
    assert end.stream.receive_eof() == [StreamClosed(None, by_peer=True)]
    checked = check()  # (in the driver's other thread, while its own closed the stream)
    assert end.stream.is_closed and not end.stream.has_data_to_send
    # An answer to a request that is no longer pending is the driver's bug: it must not hand it over.
    with pytest.raises(RuntimeError):
        end.stream.credentials_checked(checked)
    with pytest.raises(RuntimeError):
        end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    assert end.stream.is_closed and not end.stream.has_data_to_send


def test_too_many_failures_close_the_stream() -> None:
    end = new(secured=True)
    open_stream(end)
    for _ in range(CONFIG.max_auth_failures):
        end.send(plain("alice", "wrong"))
        end.events.extend(end.stream.provide_credentials(keys_for("secret")))  # type: ignore[arg-type]
        end.pull()
    assert stream_error(end) == "policy-violation"
    assert isinstance(end.events[-1], StreamClosed)


@pytest.mark.parametrize(
    ("auth", "condition"),
    [
        (f"<auth xmlns='{SASL}' mechanism='DIGEST-MD5'>=</auth>", "invalid-mechanism"),
        (f"<auth xmlns='{SASL}' mechanism='PLAIN'>not base64!</auth>", "incorrect-encoding"),
        (
            f"<auth xmlns='{SASL}' mechanism='PLAIN'>{base64.b64encode(b'no-nul').decode()}</auth>",
            "malformed-request",
        ),
    ],
)
def test_sasl_failure_conditions(auth: str, condition: str) -> None:
    end = new(secured=True)
    open_stream(end)
    events = end.send(auth)
    assert events == [AuthFailed(None, condition)]
    assert end.last().find(condition) is not None


def test_abort() -> None:
    end = new(secured=True)
    open_stream(end)
    end.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-1'/>")
    assert end.last().name == "challenge"  # no initial response: empty challenge
    events = end.send(f"<abort xmlns='{SASL}'/>")
    assert events == [AuthFailed(None, "aborted")]


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def test_scram_sha_256_full_exchange() -> None:
    end = new(secured=True)
    open_stream(end)
    client_first_bare = "n=alice,r=clientnonce123"
    initial = base64.b64encode(("n,," + client_first_bare).encode()).decode()
    events = end.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{initial}</auth>")
    assert events == [CredentialsNeeded("localhost", "alice", "SCRAM-SHA-256")]
    end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    challenge = end.last()
    assert challenge.name == "challenge"
    server_first = base64.b64decode(challenge.text).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    assert fields["r"].startswith("clientnonce123")
    salted = hashlib.pbkdf2_hmac("sha256", b"secret", base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = _hmac(salted, b"Client Key")
    final_without_proof = f"c={base64.b64encode(b'n,,').decode()},r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{final_without_proof}".encode()
    signature = _hmac(hashlib.sha256(client_key).digest(), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    final = f"{final_without_proof},p={base64.b64encode(proof).decode()}"
    events = end.send(f"<response xmlns='{SASL}'>{base64.b64encode(final.encode()).decode()}</response>")
    assert events == [Authenticated(JID.parse("alice@localhost"), "SCRAM-SHA-256")]
    success = end.last()
    assert success.name == "success"
    server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
    assert base64.b64decode(success.text) == b"v=" + base64.b64encode(server_signature)


def _server_first_for_unknown_user(config: C2SConfig, name: str) -> dict[str, str]:
    end = new(secured=True, config=config)
    open_stream(end)
    initial = base64.b64encode(f"n,,n={name},r=abc".encode()).decode()
    end.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{initial}</auth>")
    end.stream.provide_credentials(None)
    end.pull()
    server_first = base64.b64decode(end.last().text).decode()
    return dict(item.split("=", 1) for item in server_first.split(","))


def test_unknown_user_looks_like_a_real_one() -> None:
    """An unknown user is shown the configured iteration count and a salt stable for the server's secret."""
    config = C2SConfig(hosts=frozenset({"localhost"}), scram_iterations=12345, server_secret=b"k" * 32)
    first = _server_first_for_unknown_user(config, "nobody")
    assert first["i"] == "12345"
    assert _server_first_for_unknown_user(config, "nobody")["s"] == first["s"]
    restarted = C2SConfig(hosts=frozenset({"localhost"}), scram_iterations=12345, server_secret=b"k" * 32)
    assert _server_first_for_unknown_user(restarted, "nobody")["s"] == first["s"]
    other = C2SConfig(hosts=frozenset({"localhost"}), scram_iterations=12345, server_secret=b"x" * 32)
    assert _server_first_for_unknown_user(other, "nobody")["s"] != first["s"]


def test_plain_refused_when_the_policy_says_so() -> None:
    config = C2SConfig(hosts=frozenset({"localhost"}), plain_allowed=False)
    end = new(secured=True, config=config)
    offered = open_stream(end)
    mechanisms = offered.find("mechanisms", NS_SASL)
    assert mechanisms is not None and "PLAIN" not in [m.text for m in mechanisms.find_all("mechanism")]
    assert end.send(plain("alice", "secret")) == [AuthFailed(None, "invalid-mechanism")]


# -- binding and established ---------------------------------------------------------------------------------


def _authenticated() -> ClientEnd:
    end = new(secured=True)
    open_stream(end)
    end.send(plain("alice", "secret"))
    end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    end.restart()
    end.received.clear()
    open_stream(end)
    return end


def test_bind_client_chosen_resource() -> None:
    end = _authenticated()
    events = end.send(
        f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'><resource>phone</resource></bind></iq>"
    )
    assert events == [BindRequested("phone")]
    end.stream.bind_complete(JID.parse("alice@localhost/phone"))
    end.pull()
    result = end.last()
    assert result.attrs == {"type": "result", "id": "b1"}
    assert result.find("bind", NS_BIND) is not None
    assert result.find("bind", NS_BIND).child_text("jid") == "alice@localhost/phone"  # type: ignore[union-attr]
    assert end.stream.is_established


def test_bind_server_generated_resource() -> None:
    end = _authenticated()
    events = end.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'/></iq>")
    assert events == [BindRequested(None)]


def test_bind_invalid_resource_is_bad_request() -> None:
    end = _authenticated()
    events = end.send(
        f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'><resource>bad\u0378</resource></bind></iq>"
    )
    assert events == []
    error = end.last()
    assert (error.attrs["type"], error.attrs["id"]) == ("error", "b1")
    condition = error.find("error")
    assert condition is not None and condition.find("bad-request", NS_STANZAS) is not None
    # RFC 6120 section 7.6.2: the client may try again with another resource.
    assert end.send(
        f"<iq type='set' id='b2'><bind xmlns='{NS_BIND}'><resource>ok</resource></bind></iq>"
    ) == [BindRequested("ok")]


def test_stanza_before_bind_is_not_authorized() -> None:
    end = _authenticated()
    end.send("<message to='bob@localhost'><body>x</body></message>")
    assert stream_error(end) == "not-authorized"


def test_r1_established_stamps_from() -> None:
    end = establish()
    events = end.send("<message to='bob@localhost' type='chat'><body>hi</body></message>")
    assert len(events) == 1 and isinstance(events[0], StanzaReceived)
    assert events[0].stanza.attrs["from"] == "alice@localhost/phone"
    events = end.send("<message from='alice@localhost' to='bob@localhost'><body>hi</body></message>")
    assert isinstance(events[0], StanzaReceived)
    assert events[0].stanza.attrs["from"] == "alice@localhost/phone"


def test_r1_foreign_from_is_invalid_from() -> None:
    end = establish()
    end.send("<message from='mallory@localhost/x' to='bob@localhost'><body>hi</body></message>")
    assert stream_error(end) == "invalid-from"


def test_unknown_top_level_element_is_unsupported_stanza_type() -> None:
    end = establish()
    end.send("<foo xmlns='urn:example:foo'/>")
    assert stream_error(end) == "unsupported-stanza-type"


def test_legacy_session_iq_is_answered() -> None:
    end = establish()
    events = end.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    assert events == []
    assert end.last().attrs["type"] == "result" and end.last().attrs["id"] == "s1"


def test_whitespace_keepalive_is_ignored_and_can_be_sent() -> None:
    end = establish()
    assert end.send("   \n  ") == []
    end.stream.send_keepalive()
    assert end.stream.data_to_send() == b" "


def test_client_closes_stream() -> None:
    end = establish()
    events = end.send("</stream:stream>")
    assert events == [StreamClosed(None, by_peer=True)]
    assert isinstance(end.received[-1], StreamClose)


def test_server_close_with_error_and_timeout() -> None:
    end = establish()
    events = end.stream.close(StreamError("system-shutdown"))
    end.pull()
    assert stream_error(end) == "system-shutdown"
    assert isinstance(events[0], StreamClosed)
    other = new()
    open_stream(other)
    other.stream.connection_timeout()
    other.pull()
    assert stream_error(other) == "connection-timeout"


def test_send_serializes_into_client_namespace() -> None:
    end = establish()
    stanza = Element("message", "jabber:client", {"to": "alice@localhost/phone"})
    stanza.add("body", text="a < b")
    end.stream.send(stanza)
    assert end.stream.data_to_send() == b"<message to='alice@localhost/phone'><body>a &lt; b</body></message>"


def test_negotiation_fed_byte_by_byte() -> None:
    stream = C2SStream(CONFIG, secured=True)
    data = (HEADER.format(host="localhost") + plain("alice", "secret")).encode()
    events = []
    for i in range(len(data)):
        events.extend(stream.receive_data(data[i : i + 1]))
    assert events[0] == StreamOpened("localhost")
    assert events[-1] == CredentialsNeeded("localhost", "alice", "PLAIN")


# -- forwarding a stanza as it came (Element.source) ---------------------------------------------------------

# The client's view of what a server stream sends.
SERVER_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost'>"
)


def received(end: ClientEnd, xml: str) -> Element:
    events = end.send(xml)
    assert len(events) == 1 and isinstance(events[0], StanzaReceived), events
    return events[0].stanza


def as_client_reads(data: bytes) -> Element:
    (_, element) = StreamParser().feed(SERVER_HEADER + data)
    assert isinstance(element, Element)
    return element


def sent_to_bob(stanza: Element) -> bytes:
    bob = establish("bob", "laptop")
    bob.stream.send(stanza)
    return bob.stream.data_to_send()


@pytest.mark.parametrize(
    "xml",
    [
        "<message to='bob@localhost/laptop' type='chat' id='m1'><body>hi</body></message>",
        "<message to='bob@localhost' id='a&gt;b' note='1 > 0'><body>&lt;&amp;&quot;<![CDATA[<x/>]]></body></message >",
        "<message\n to='bob@localhost'\txml:lang='de'><body>\u00e9\u4e2d\U0001f600\r\nzwei</body></message>",
        "<message to='bob@localhost'><x:y xmlns:x='urn:x' x:a='1'/><z xmlns='urn:z'><w/></z></message>",
        "<message to='bob@localhost' from='alice@localhost/phone'><body>own full JID</body></message>",
        "<presence to='bob@localhost'/>",
        "<presence/>",
        "<iq type='get' id='v' to='bob@localhost/laptop'><query xmlns='jabber:iq:version'/></iq>",
    ],
)
def test_a_stanza_is_forwarded_as_it_came_with_the_from_stamp(xml: str) -> None:
    stanza = received(establish(), xml)
    assert stanza.source is not None and stanza.source.startswith(b"<")
    forwarded = sent_to_bob(stanza)
    assert forwarded == stanza.source
    # What the client reads is what a full serialization of the stanza would give it.
    reserialized = sent_to_bob(stanza.copy())
    assert as_client_reads(forwarded) == as_client_reads(reserialized) == stanza
    assert as_client_reads(forwarded).attrs["from"] == "alice@localhost/phone"


@pytest.mark.parametrize(
    "xml",
    [
        # The stamp changes the 'from' the client gave (its bare JID): serialized again.
        "<message to='bob@localhost' from='alice@localhost'><body>hi</body></message>",
        # A prefixed stanza name: no plain start tag to stamp.
        "<c:message xmlns:c='jabber:client' to='bob@localhost'><c:body>hi</c:body></c:message>",
    ],
)
def test_a_stanza_whose_bytes_would_be_wrong_is_serialized_again(xml: str) -> None:
    stanza = received(establish(), xml)
    assert stanza.source is None
    assert as_client_reads(sent_to_bob(stanza)).attrs["from"] == "alice@localhost/phone"


def test_the_stamp_is_escaped() -> None:
    stanza = received(establish("alice", 'it\'s "me"'), "<message to='bob@localhost'/>")
    assert stanza.source == b"<message from='alice@localhost/it&apos;s &quot;me&quot;' to='bob@localhost'/>"
    assert as_client_reads(sent_to_bob(stanza)).attrs["from"] == 'alice@localhost/it\'s "me"'


def test_no_source_where_the_clients_header_declares_other_prefixes() -> None:
    header = HEADER.replace(" to=", " xmlns:x='urn:x' to=")
    end = establish(header=header)
    stanza = received(end, "<message to='bob@localhost'><x:y/></message>")
    assert stanza.source is None
    assert as_client_reads(sent_to_bob(stanza)).find("y", "urn:x") is not None


def test_a_changed_stanza_is_serialized_again() -> None:
    stanza = received(establish(), "<message to='bob@localhost/laptop'><body>hi</body></message>")
    stanza.set("to", "bob@localhost")
    assert b"to='bob@localhost'" in sent_to_bob(stanza)


def test_a_stream_that_slept_still_forwards_stanzas_as_they_came() -> None:
    end = establish()
    received(end, "<message to='bob@localhost'><body>before</body></message>")
    assert end.stream.hibernate()
    xml = "<message to='bob@localhost/laptop' id='m2'><body>after</body></message>"
    stanza = received(end, xml)
    assert stanza.source == xml.replace("<message", "<message from='alice@localhost/phone'").encode()
    assert as_client_reads(sent_to_bob(stanza)) == stanza


# -- a long-lived session keeps only what it needs ---------------------------------------------------------------


def test_negotiation_state_is_dropped_once_bound_and_what_follows_still_works() -> None:
    end = establish()
    stream = end.stream
    assert dict(stream.channel_bindings) == {} and stream._offered_mechanisms == ()
    events = end.send("<message to='bob@localhost' type='chat'><body>hi</body></message>")
    assert [type(e) for e in events] == [StanzaReceived]
    # Negotiation stays over: SASL after binding is no stanza (RFC 6120 section 4.9.3.24), as before.
    end.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>")
    assert stream_error(end) == "unsupported-stanza-type"


def test_a_hibernated_stream_goes_on_as_before() -> None:
    end = establish()
    stream = end.stream
    assert stream.hibernate()
    events = end.send("<message to='bob@localhost' type='chat'><body>one</body></message>")
    assert [type(e) for e in events] == [StanzaReceived]
    assert isinstance(events[0], StanzaReceived) and events[0].stanza.child_text("body") == "one"
    end.send("<presence/><message to='bob@localhost'><bo")
    assert not stream.hibernate()  # in the middle of a stanza: nothing is freed
    events = end.send("dy>two</body></message>")
    assert [e.stanza.child_text("body") for e in events if isinstance(e, StanzaReceived)] == ["two"]
    assert stream.hibernate()
    events = end.send("</stream:stream>")
    assert events == [StreamClosed(None, by_peer=True)]
    assert not stream.hibernate()  # closed


def test_hibernating_before_authentication_keeps_the_negotiation_going() -> None:
    end = new(secured=True)
    open_stream(end)
    assert end.stream.hibernate()
    events = end.send(plain("alice", "secret"))
    assert isinstance(events[-1], CredentialsNeeded)


def test_the_features_sent_are_the_same_from_the_cache() -> None:
    config = C2SConfig(hosts=frozenset({"localhost"}))
    first, second = new(config=config, secured=True), new(config=config, secured=True)
    assert open_stream(first) == open_stream(second)
    assert len(config.features_cache) == 1
    # A stream offered other mechanisms (channel binding): another entry, its own mechanisms.
    bound = new(config=config, secured=True, bindings={"tls-server-end-point": b"x" * 32})
    features = open_stream(bound)
    assert len(config.features_cache) == 2
    mechanisms = features.find("mechanisms", SASL)
    assert mechanisms is not None and "SCRAM-SHA-1-PLUS" in [m.text for m in mechanisms.elements()]
    assert "SCRAM-SHA-1-PLUS" in bound.stream._offered_mechanisms
    assert "SCRAM-SHA-1-PLUS" not in first.stream._offered_mechanisms
