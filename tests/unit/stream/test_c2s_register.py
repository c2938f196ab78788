"""XEP-0077 in-band registration on the sans-IO c2s stream, before authentication (sections 3.1 and 8)."""

from __future__ import annotations

import base64

import pytest

from tests.helpers.streams import HEADER, ClientEnd, establish, keys_for, open_stream
from tests.helpers.xml import parse
from xmppd.errors import StanzaError
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import (
    Authenticated,
    CredentialsNeeded,
    RegistrationRequested,
    StanzaReceived,
    StreamClosed,
    TLSRequested,
)
from xmppd.stream.state import C2SState
from xmppd.xml.element import Element
from xmppd.xml.ns import (
    NS_REGISTER,
    NS_REGISTER_FEATURE,
    NS_SASL,
    NS_STANZAS,
    NS_STREAM_ERRORS,
    NS_STREAMS,
    NS_TLS,
)
from xmppd.xml.parser import StreamClose
from xmppd.xml.stanza import error_reply, reply

OPEN = C2SConfig(hosts=frozenset({"localhost", "other.example"}), registration_hosts=frozenset({"localhost"}))
CLOSED = C2SConfig(hosts=frozenset({"localhost"}))

GET = f"<iq type='get' id='reg1'><query xmlns='{NS_REGISTER}'/></iq>"
SET = (
    f"<iq type='set' id='reg2'><query xmlns='{NS_REGISTER}'>"
    "<username>bill</username><password>Calliope</password></query></iq>"
)


def new(config: C2SConfig = OPEN, *, secured: bool = True, host: str = "localhost") -> ClientEnd:
    end = ClientEnd(C2SStream(config, secured=secured))
    open_stream(end, host)
    return end


def state(end: ClientEnd) -> C2SState:
    return end.stream.state


def form() -> Element:
    query = Element("query", NS_REGISTER)
    query.add("username")
    query.add("password")
    return query


def stream_error(end: ClientEnd) -> str:
    assert isinstance(end.received[-1], StreamClose), end.received
    error = end.elements()[-1]
    assert (error.ns, error.name) == (NS_STREAMS, "error")
    return next(iter(error.find_all(ns=NS_STREAM_ERRORS))).name


def condition(stanza: Element) -> str:
    assert stanza.attrs.get("type") == "error", stanza
    error = stanza.find("error")
    assert error is not None
    return next(iter(error.find_all(ns=NS_STANZAS))).name


def plain(username: str, password: str) -> str:
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    return f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>"


def answer(end: ClientEnd, stanza: Element) -> list[object]:
    events = end.stream.registration_answered(stanza)
    end.events.extend(events)
    end.pull()
    return list(events)


# -- the stream feature (section 8) --------------------------------------------------------------------------


def test_feature_offered_with_the_mechanisms_where_registration_is_open() -> None:
    end = ClientEnd(C2SStream(OPEN, secured=True))
    end.send(HEADER.format(host="localhost"))
    features = end.elements()[-1]
    assert [(c.ns, c.name) for c in features.elements()][-1] == (NS_REGISTER_FEATURE, "register")
    assert features.find("mechanisms", NS_SASL) is not None


@pytest.mark.parametrize(
    ("config", "host"),
    [(CLOSED, "localhost"), (OPEN, "other.example")],
    ids=["registration-closed", "another-host"],
)
def test_feature_not_offered_where_registration_is_closed(config: C2SConfig, host: str) -> None:
    end = ClientEnd(C2SStream(config, secured=True))
    end.send(HEADER.format(host=host))
    assert end.elements()[-1].find("register", NS_REGISTER_FEATURE) is None


def test_feature_offered_only_after_tls() -> None:
    end = ClientEnd(C2SStream(OPEN))
    end.send(HEADER.format(host="localhost"))
    assert [(c.ns, c.name) for c in end.elements()[-1].elements()] == [(NS_TLS, "starttls")]
    assert end.send(f"<starttls xmlns='{NS_TLS}'/>") == [TLSRequested()]
    end.stream.tls_established({})
    end.restart()
    end.received.clear()
    assert open_stream(end).find("register", NS_REGISTER_FEATURE) is not None


def test_never_offered_nor_accepted_without_tls() -> None:
    # Section 10: registration SHOULD NOT be used unless the channel is secured.
    config = C2SConfig(
        hosts=frozenset({"localhost"}), tls_required=False, registration_hosts=frozenset({"localhost"})
    )
    end = new(config, secured=False)
    events = end.send(GET)
    assert len(events) == 1 and isinstance(events[0], StreamClosed)
    assert stream_error(end) == "not-authorized"
    unsecured = ClientEnd(C2SStream(config))
    unsecured.send(HEADER.format(host="localhost"))
    assert unsecured.elements()[-1].find("register", NS_REGISTER_FEATURE) is None


# -- registering (section 3.1) -------------------------------------------------------------------------------


def test_get_is_handed_over_and_the_answer_sent() -> None:
    end = new()
    events = end.send(GET)
    assert events == [RegistrationRequested("localhost", parse(GET))]
    assert state(end) is C2SState.REGISTER_WAITING
    assert answer(end, reply(parse(GET), form())) == []
    assert end.elements() == [reply(parse(GET), form())]
    assert state(end) is C2SState.NEGOTIATING


def test_set_then_authenticate_with_the_new_account() -> None:
    end = new()
    assert end.send(SET) == [RegistrationRequested("localhost", parse(SET))]
    answer(end, reply(parse(SET)))
    result = end.take()[-1]
    assert (result.attrs["type"], result.attrs["id"], result.children) == ("result", "reg2", [])
    assert end.send(plain("bill", "Calliope")) == [CredentialsNeeded("localhost", "bill", "PLAIN")]
    events = end.stream.provide_credentials(keys_for("Calliope"))  # type: ignore[arg-type]
    assert any(isinstance(event, Authenticated) for event in events)


def test_input_after_the_request_waits_for_the_answer() -> None:
    end = new()
    # A client that pipelines its login behind the registration: nothing more is read until the answer.
    assert end.send(SET + plain("bill", "Calliope")) == [RegistrationRequested("localhost", parse(SET))]
    assert answer(end, reply(parse(SET))) == [CredentialsNeeded("localhost", "bill", "PLAIN")]


def test_to_the_stream_host_is_accepted_and_a_claimed_from_is_dropped() -> None:
    end = new()
    events = end.send(
        f"<iq type='get' id='r' to='LOCALHOST' from='mallory@localhost/x'><query xmlns='{NS_REGISTER}'/></iq>"
    )
    assert len(events) == 1 and isinstance(events[0], RegistrationRequested)
    assert events[0].iq.attrs == {"type": "get", "id": "r", "to": "LOCALHOST"}
    answer(end, reply(events[0].iq, form()))
    assert "to" not in end.last().attrs


def test_errors_are_sent_as_given_and_the_client_may_try_again() -> None:
    end = new()
    end.send(SET)
    answer(end, error_reply(parse(SET), StanzaError("conflict")))
    assert condition(end.take()[-1]) == "conflict"
    assert end.send(SET) == [RegistrationRequested("localhost", parse(SET))]


def test_a_second_account_on_one_connection_is_not_acceptable() -> None:
    # Section 3.1.1: MAY refuse "a second identity after successfully completing the registration use case".
    end = new()
    end.send(SET)
    answer(end, reply(parse(SET)))
    end.take()
    assert end.send(SET) == []
    assert condition(end.last()) == "not-acceptable"
    assert end.send(GET) == [RegistrationRequested("localhost", parse(GET))]


def test_too_many_failed_attempts_are_not_acceptable() -> None:
    # Section 3.1.1: MAY refuse an entity that "attempts to register too many times before authenticating".
    end = new()
    for _ in range(OPEN.max_auth_failures):
        end.send(SET)
        answer(end, error_reply(parse(SET), StanzaError("conflict")))
    end.take()
    assert end.send(SET) == []
    assert condition(end.last()) == "not-acceptable"
    assert not end.stream.is_closed


@pytest.mark.parametrize(
    "iq",
    [
        f"<iq type='get'><query xmlns='{NS_REGISTER}'/></iq>",
        f"<iq type='set' id='x'><query xmlns='{NS_REGISTER}'/><query xmlns='{NS_REGISTER}'/></iq>",
    ],
    ids=["no-id", "two-children"],
)
def test_malformed_iq_is_a_bad_request(iq: str) -> None:
    # RFC 6120 section 8.2.3.
    end = new()
    assert end.send(iq) == []
    assert condition(end.last()) == "bad-request"
    assert state(end) is C2SState.NEGOTIATING


# -- what stays not-authorized (RFC 6120 section 4.9.3.12) ----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "host", "iq"),
    [
        (CLOSED, "localhost", GET),
        (OPEN, "other.example", GET),
        (OPEN, "localhost", f"<iq type='get' id='r' to='other.example'><query xmlns='{NS_REGISTER}'/></iq>"),
        (OPEN, "localhost", f"<iq type='get' id='r' to='a@@b'><query xmlns='{NS_REGISTER}'/></iq>"),
        (OPEN, "localhost", f"<iq type='result' id='r'><query xmlns='{NS_REGISTER}'/></iq>"),
        (OPEN, "localhost", "<iq type='get' id='r'><query xmlns='jabber:iq:version'/></iq>"),
        (OPEN, "localhost", f"<message><query xmlns='{NS_REGISTER}'/></message>"),
    ],
    ids=["closed", "closed-host", "to-another-host", "bad-to", "result", "other-payload", "message"],
)
def test_other_requests_before_authentication_are_not_authorized(
    config: C2SConfig, host: str, iq: str
) -> None:
    end = new(config, host=host)
    events = end.send(iq)
    assert len(events) == 1 and isinstance(events[0], StreamClosed)
    assert stream_error(end) == "not-authorized"


def test_after_authentication_the_iq_is_an_ordinary_stanza() -> None:
    # Password change and cancellation (sections 3.2 and 3.3) are routed to the register module.
    end = establish(config=OPEN)
    events = end.send(SET)
    assert len(events) == 1 and isinstance(events[0], StanzaReceived)
    assert events[0].stanza.attrs["from"] == "alice@localhost/phone"


# -- the driver's side ---------------------------------------------------------------------------------------


def test_answer_without_request_is_a_driver_bug() -> None:
    end = new()
    with pytest.raises(RuntimeError):
        end.stream.registration_answered(reply(parse(GET)))
    end.send(GET)
    with pytest.raises(ValueError):
        end.stream.registration_answered(Element("message", "jabber:client"))


def test_closing_while_waiting() -> None:
    end = new()
    end.send(GET)
    events = end.stream.close()
    assert events == [StreamClosed(None, by_peer=False)]
    assert end.stream.is_closed
