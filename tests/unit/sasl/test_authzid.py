"""Authorization identities end to end: the mechanisms report the authzid, the c2s stream decides.

RFC 6120 section 6.3.8: a client that sends an authzid asks to act as that bare JID; we allow only the account
that authenticated, and refuse any other with ``invalid-authzid`` (section 6.5.6). The policy lives in
``xmppd.stream.c2s``, so these tests drive a ``C2SStream`` over an already secured connection.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from tests.helpers.streams import ClientEnd, keys_for, open_stream
from tests.unit.sasl.scram_client import client_final
from xmppd.jid import JID
from xmppd.stream.c2s import C2SConfig, C2SStream
from xmppd.stream.events import Authenticated, AuthFailed, CredentialsNeeded, Event
from xmppd.xml.ns import NS_SASL

CONFIG = C2SConfig(hosts=frozenset({"localhost"}))
ALICE = JID.parse("alice@localhost")


def connected() -> ClientEnd:
    end = ClientEnd(C2SStream(CONFIG, secured=True))
    open_stream(end)
    return end


def sasl(name: str, data: bytes, mechanism: str | None = None) -> str:
    attrs = f" mechanism='{mechanism}'" if mechanism else ""
    return f"<{name} xmlns='{NS_SASL}'{attrs}>{base64.b64encode(data).decode()}</{name}>"


def plain_login(authzid: str) -> tuple[ClientEnd, list[Event]]:
    end = connected()
    events = end.send(sasl("auth", f"{authzid}\0alice\0secret".encode(), "PLAIN"))
    assert events == [CredentialsNeeded("localhost", "alice", "PLAIN")]
    events = end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    return end, events


def scram_login(authzid: str) -> tuple[ClientEnd, list[Event]]:
    end = connected()
    header = f"n,a={authzid.replace('=', '=3D').replace(',', '=2C')},"
    bare = "n=alice,r=clientnonce"
    events = end.send(sasl("auth", (header + bare).encode(), "SCRAM-SHA-256"))
    assert events == [CredentialsNeeded("localhost", "alice", "SCRAM-SHA-256")]
    end.stream.provide_credentials(keys_for("secret"))  # type: ignore[arg-type]
    end.pull()
    challenge = end.last()
    assert challenge.name == "challenge"
    server_first = base64.b64decode(challenge.text).decode()
    final = client_final(
        "sha256", "secret", client_first_bare=bare, server_first=server_first, cbind_input=header.encode()
    )
    events = end.send(sasl("response", final.message.encode()))
    return end, events


Login = Callable[[str], tuple[ClientEnd, list[Event]]]
LOGINS = pytest.mark.parametrize("login", [plain_login, scram_login], ids=["PLAIN", "SCRAM-SHA-256"])


@LOGINS
@pytest.mark.parametrize(
    "authzid",
    [
        "bob@localhost",  # another account
        "alice@example.org",  # the same name on another domain
        "alice@localhost/phone",  # a full JID: the authzid is a bare JID (RFC 6120 section 6.3.8)
        "localhost",
        "bob",
    ],
)
def test_authzid_of_another_entity_is_invalid_authzid(login: Login, authzid: str) -> None:
    end, events = login(authzid)
    assert events == [AuthFailed("alice", "invalid-authzid")]
    failure = end.last()
    assert (failure.ns, failure.name) == (NS_SASL, "failure")
    assert failure.find("invalid-authzid") is not None
    assert end.stream.authenticated_as is None and not end.stream.is_closed


@LOGINS
def test_own_bare_jid_as_authzid_is_accepted(login: Login) -> None:
    end, events = login("alice@localhost")
    assert events == [Authenticated(ALICE, "PLAIN" if login is plain_login else "SCRAM-SHA-256")]
    assert end.last().name == "success"
