"""SCRAM server side (RFC 5802, RFC 7677) and its -PLUS forms (RFC 5802 section 6, RFC 9266, RFC 5929).

The mechanism is driven message by message, as the stream would: client-first -> NeedCredentials,
provide_credentials -> Challenge(server-first), client-final -> Success(server-final). The server's nonce is
injected with ``nonce_factory`` so the RFC examples can be replayed byte for byte.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass

import pytest

from tests.unit.sasl.scram_client import client_final, parse_attributes
from xmppd.errors import SASLFailure
from xmppd.sasl import Challenge, HashName, NeedCredentials, ScramKeys, Success
from xmppd.sasl.scram import (
    FAKE_ITERATIONS,
    SALT_SIZE,
    SCRAM_CLASSES,
    SCRAMMechanism,
    derive_keys,
    verify_password,
)

SECRET = b"\x01" * 32
NONCE = "3rfcNHYJY1ZVvWVs7j"


@dataclass(frozen=True, slots=True)
class Vector:
    """A published example exchange for user "user", password "pencil", 4096 iterations."""

    mechanism: str
    hash_name: HashName
    client_nonce: str
    server_nonce: str
    """The server's part of the nonce (what ``nonce_factory`` returns)."""
    salt: str
    server_first: str
    client_final: str
    server_final: str
    stored_key: str
    """StoredKey and ServerKey in hex: not printed in the RFCs, but fixed by their exchange (the server must
    produce the RFC's server-final from them); pinned so a derivation change shows up on its own."""
    server_key: str

    @property
    def client_first(self) -> str:
        return f"n,,n=user,r={self.client_nonce}"


RFC5802 = Vector(  # RFC 5802 section 5
    mechanism="SCRAM-SHA-1",
    hash_name="sha1",
    client_nonce="fyko+d2lbbFgONRv9qkxdawL",
    server_nonce="3rfcNHYJY1ZVvWVs7j",
    salt="QSXCR+Q6sek8bf92",
    server_first="r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final="c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final="v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    stored_key="e9d94660c39d65c38fbad91c358f14da0eef2bd6",
    server_key="0fe09258b3ac852ba502cc62ba903eaacdbf7d31",
)
RFC7677 = Vector(  # RFC 7677 section 3
    mechanism="SCRAM-SHA-256",
    hash_name="sha256",
    client_nonce="rOprNGfwEbeRWgbNEkqO",
    server_nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt="W22ZaJ0SNY7soEsUEjb6gQ==",
    server_first="r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final=(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    ),
    server_final="v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    stored_key="586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6",
    server_key="c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5",
)
VECTORS = pytest.mark.parametrize("vector", [RFC5802, RFC7677], ids=lambda v: v.mechanism)

#: Channel-binding data a TLS connection would supply (RFC 9266: 32 bytes; RFC 5929: a certificate hash).
BINDINGS = {
    "tls-exporter": bytes(range(32)),
    "tls-server-end-point": hashlib.sha256(b"the server certificate").digest(),
}
PLUS = pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
CB_TYPES = pytest.mark.parametrize("cb_type", ["tls-exporter", "tls-server-end-point"])


@functools.cache
def keys(password: str, hash_name: HashName, salt: str = RFC5802.salt) -> ScramKeys:
    return derive_keys(password, hash_name, 4096, base64.b64decode(salt))


def all_keys(password: str = "pencil", salt: str = RFC5802.salt) -> dict[HashName, ScramKeys]:
    return {"sha1": keys(password, "sha1", salt), "sha256": keys(password, "sha256", salt)}


def mechanism(
    name: str,
    bindings: dict[str, bytes] | None = None,
    *,
    nonce: str = NONCE,
    secret: bytes = SECRET,
    fake_iterations: int = FAKE_ITERATIONS,
) -> SCRAMMechanism:
    return SCRAM_CLASSES[name](
        channel_bindings=bindings or {},
        nonce_factory=lambda: nonce,
        server_secret=secret,
        fake_iterations=fake_iterations,
    )


def hash_of(name: str) -> HashName:
    return "sha256" if "SHA-256" in name else "sha1"


def server_first(
    mech: SCRAMMechanism, client_first: str, credentials: dict[HashName, ScramKeys] | None
) -> str:
    """Run the first round trip; returns the server-first message."""
    step = mech.receive(client_first.encode())
    assert isinstance(step, NeedCredentials), step
    step = mech.provide_credentials(credentials)
    assert isinstance(step, Challenge), step
    return step.data.decode()


def failure(mech: SCRAMMechanism, message: str) -> SASLFailure:
    with pytest.raises(SASLFailure) as info:
        mech.receive(message.encode())
    return info.value


def login(
    name: str,
    gs2_header: str,
    cbind_data: bytes = b"",
    *,
    bindings: dict[str, bytes] | None = None,
    client_gs2: str | None = None,
) -> tuple[SCRAMMechanism, str, str]:
    """Send a client-first with ``gs2_header``; returns the mechanism, the client-final and the expected
    server-final. The client-final binds ``client_gs2`` (default: the header sent) plus ``cbind_data``."""
    mech = mechanism(name, bindings)
    bare = "n=user,r=clientnonce"
    first = server_first(mech, gs2_header + bare, all_keys())
    final = client_final(
        hash_of(name),
        "pencil",
        client_first_bare=bare,
        server_first=first,
        cbind_input=(gs2_header if client_gs2 is None else client_gs2).encode() + cbind_data,
    )
    return mech, final.message, final.expected_server_final


# -- the RFC examples ----------------------------------------------------------------------------------------


@VECTORS
def test_rfc_example_exchange(vector: Vector) -> None:
    mech = mechanism(vector.mechanism, nonce=vector.server_nonce)
    assert mech.receive(vector.client_first.encode()) == NeedCredentials("user")
    step = mech.provide_credentials({vector.hash_name: keys("pencil", vector.hash_name, vector.salt)})
    assert step == Challenge(vector.server_first.encode())
    step = mech.receive(vector.client_final.encode())
    assert step == Success(username="user", authzid=None, additional_data=vector.server_final.encode())


@VECTORS
def test_stored_keys_from_the_rfc_password(vector: Vector) -> None:
    derived = derive_keys("pencil", vector.hash_name, 4096, base64.b64decode(vector.salt))
    assert derived == ScramKeys(
        hash_name=vector.hash_name,
        salt=base64.b64decode(vector.salt),
        iterations=4096,
        stored_key=bytes.fromhex(vector.stored_key),
        server_key=bytes.fromhex(vector.server_key),
    )


@VECTORS
def test_rfc_example_with_a_wrong_password_is_not_authorized(vector: Vector) -> None:
    mech = mechanism(vector.mechanism, nonce=vector.server_nonce)
    mech.receive(vector.client_first.encode())
    step = mech.provide_credentials({vector.hash_name: keys("pencil!", vector.hash_name, vector.salt)})
    assert step == Challenge(vector.server_first.encode())  # same salt, same count: nothing told apart yet
    error = failure(mech, vector.client_final)
    assert error.condition == "not-authorized"


@VECTORS
def test_verify_password(vector: Vector) -> None:
    stored = keys("pencil", vector.hash_name, vector.salt)
    assert verify_password("pencil", stored)
    for other in ("Pencil", "pencil ", "", "pencil\x07"):
        assert not verify_password(other, stored)


# -- stored keys ---------------------------------------------------------------------------------------------


def test_derive_keys_draws_a_fresh_salt() -> None:
    first, second = derive_keys("pencil", "sha256", 1), derive_keys("pencil", "sha256", 1)
    assert len(first.salt) == len(second.salt) == SALT_SIZE
    assert first.salt != second.salt and first.stored_key != second.stored_key
    assert verify_password("pencil", first) and verify_password("pencil", second)


def test_derive_keys_prepares_the_password_with_opaque_string() -> None:
    # RFC 8265 section 4.2: non-ASCII spaces map to U+0020, and the result is NFC.
    salt = b"salt"
    assert derive_keys("pen\u00a0cil", "sha1", 1, salt) == derive_keys("pen cil", "sha1", 1, salt)
    assert derive_keys("caf\u0065\u0301", "sha1", 1, salt) == derive_keys("caf\u00e9", "sha1", 1, salt)


@pytest.mark.parametrize(
    ("password", "hash_name", "iterations", "salt"),
    [
        ("pencil", "md5", 1, b"salt"),
        ("pencil", "sha1", 0, b"salt"),
        ("pencil", "sha1", 1, b""),
        ("", "sha1", 1, b"salt"),
        ("pen\x07cil", "sha1", 1, b"salt"),
    ],
)
def test_derive_keys_refuses(password: str, hash_name: HashName, iterations: int, salt: bytes) -> None:
    with pytest.raises(ValueError):
        derive_keys(password, hash_name, iterations, salt)


# -- unknown users (RFC 5802 section 9: do not reveal whether an account exists) --------------------------------


@VECTORS
def test_unknown_user_fails_exactly_like_a_wrong_password(vector: Vector) -> None:
    # A real account as ``derive_keys`` stores it (random salt, default count), with another password.
    known = mechanism(vector.mechanism, nonce=vector.server_nonce)
    known_first = server_first(
        known, vector.client_first, {vector.hash_name: derive_keys("other", vector.hash_name)}
    )
    unknown = mechanism(vector.mechanism, nonce=vector.server_nonce)
    unknown_first = server_first(unknown, vector.client_first, None)
    # A plausible server-first: the same nonce, a salt of the same size, the same iteration count.
    pattern = re.compile(
        rf"r={re.escape(vector.client_nonce + vector.server_nonce)},s=([A-Za-z0-9+/=]+),i=4096"
    )
    for message in (known_first, unknown_first):
        match = pattern.fullmatch(message)
        assert match is not None, message
        assert len(base64.b64decode(match.group(1))) == SALT_SIZE
    wrong_password, no_such_user = failure(known, vector.client_final), failure(unknown, vector.client_final)
    assert (no_such_user.condition, no_such_user.text) == (wrong_password.condition, wrong_password.text)
    assert no_such_user.condition == "not-authorized"


def fake_salt(username: str, name: str = "SCRAM-SHA-1", secret: bytes = SECRET) -> str:
    first = server_first(mechanism(name, secret=secret), f"n,,n={username},r=abc", None)
    return parse_attributes(first)["s"]


def test_unknown_user_salt_is_stable_per_name_hash_and_secret() -> None:
    assert fake_salt("nobody") == fake_salt("nobody")  # asking twice must not give it away
    assert fake_salt("nobody") != fake_salt("somebody")
    assert fake_salt("nobody") != fake_salt("nobody", "SCRAM-SHA-256")
    assert fake_salt("nobody") != fake_salt("nobody", secret=b"\x02" * 32)


def test_unknown_user_salt_is_the_same_for_every_spelling_of_the_account() -> None:
    # Accounts are looked up by prepared localpart: "Nobody" would get the real salt of "nobody" if it existed,
    # so an unknown name must not answer differently per spelling either.
    assert fake_salt("Nobody") == fake_salt("nobody") == fake_salt("NOBODY")
    # A name that cannot be a localpart still gets a plausible, stable answer.
    assert len(base64.b64decode(fake_salt("no body"))) == SALT_SIZE
    assert fake_salt("no body") == fake_salt("no body")


def test_unknown_user_iteration_count_follows_the_configured_one() -> None:
    first = server_first(mechanism("SCRAM-SHA-256", fake_iterations=10_000), "n,,n=nobody,r=abc", None)
    assert parse_attributes(first)["i"] == "10000"


def test_user_without_keys_for_the_hash_is_treated_as_unknown() -> None:
    mech = mechanism("SCRAM-SHA-1", nonce=RFC5802.server_nonce)
    first = server_first(mech, RFC5802.client_first, {"sha256": keys("pencil", "sha256")})
    assert first != RFC5802.server_first
    assert failure(mech, RFC5802.client_final).condition == "not-authorized"


def test_unknown_user_with_a_well_formed_proof_is_not_authorized() -> None:
    mech = mechanism("SCRAM-SHA-256")
    first = server_first(mech, "n,,n=nobody,r=abc", None)
    final = client_final(
        "sha256", "pencil", client_first_bare="n=nobody,r=abc", server_first=first, cbind_input=b"n,,"
    )
    assert failure(mech, final.message).condition == "not-authorized"


# -- nonces (RFC 5802 section 5.1) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nonce",
    [
        "fyko+d2lbbFgONRv9qkxdawL",  # the client's part only
        "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7k",  # the server's part altered
        "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7jX",  # extended
        "x",
    ],
)
def test_nonce_mismatch_is_not_authorized(nonce: str) -> None:
    # A proof that is right for the nonce it names: only the nonce check can refuse it.
    mech = mechanism("SCRAM-SHA-1")
    first = server_first(mech, RFC5802.client_first, all_keys())
    final = client_final(
        "sha1",
        "pencil",
        client_first_bare="n=user,r=" + RFC5802.client_nonce,
        server_first=first,
        cbind_input=b"n,,",
        nonce=nonce,
    )
    assert failure(mech, final.message).condition == "not-authorized"


def test_server_nonce_comes_from_the_factory_after_the_client_nonce() -> None:
    first = server_first(mechanism("SCRAM-SHA-256", nonce="S3rv3r"), "n,,n=user,r=Cl13nt", all_keys())
    assert parse_attributes(first)["r"] == "Cl13ntS3rv3r"


def test_default_server_nonces_are_fresh_and_valid() -> None:
    nonces = set()
    for _ in range(3):
        mech = SCRAM_CLASSES["SCRAM-SHA-256"](channel_bindings={})
        mech.receive(b"n,,n=user,r=abc")
        step = mech.provide_credentials(None)
        assert isinstance(step, Challenge)
        nonce = parse_attributes(step.data.decode())["r"]
        assert nonce.startswith("abc") and len(nonce) > len("abc") + 16
        assert re.fullmatch(r"[\x21-\x2b\x2d-\x7e]+", nonce)
        nonces.add(nonce)
    assert len(nonces) == 3


def test_a_nonce_factory_returning_a_comma_is_a_bug() -> None:
    mech = mechanism("SCRAM-SHA-1", nonce="a,b")
    mech.receive(b"n,,n=user,r=abc")
    with pytest.raises(ValueError):
        mech.provide_credentials(None)


# -- malformed messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "",
        "n",
        "n,",
        "n,,",
        "n,,n=user",
        "n,,r=abc",
        "n,,r=abc,n=user",  # out of order
        "n,,n=user,r=",  # empty nonce
        "n,,n=user,r=ab,c",  # "c" is not an attribute
        "n,,n=,r=abc",  # empty username
        "n,,n=us=er,r=abc",  # "=" must be escaped (RFC 5802 section 5.1)
        "n,,n=us=2cer,r=abc",  # escapes are upper case
        "n,,m=ext,n=user,r=abc",  # reserved-mext MUST fail (RFC 5802 section 5.1)
        "n,,n=user,r=abc,m=ext",
        "n,,n=user,r=abc,r=def",  # a defined attribute is not an extension
        "n,,n=user,r=abc,",
        "n,,n=user,r=abc,x=",
        "n,,n=user,r=abc,1=x",
        "n,x=y,n=user,r=abc",  # the authzid field must be "a="
        "x,,n=user,r=abc",  # gs2-cbind-flag is p=, n or y
        "N,,n=user,r=abc",
        "n,,n=user,r=ab\u00e9c",  # the nonce is printable ASCII
        "n,,n=user,r=abc\x00",  # NUL is never allowed
    ],
)
def test_malformed_client_first(message: str) -> None:
    assert failure(mechanism("SCRAM-SHA-1"), message).condition == "malformed-request"


def test_client_first_not_utf8() -> None:
    mech = mechanism("SCRAM-SHA-256")
    with pytest.raises(SASLFailure) as info:
        mech.receive(b"n,,n=\xffuser,r=abc")
    assert info.value.condition == "malformed-request"


@pytest.mark.parametrize("authzid", ["a=", "a=us=er", "a=us=2"])
def test_badly_escaped_authzid_is_invalid_authzid(authzid: str) -> None:
    # RFC 6120 section 6.5.6: an incorrectly formatted authzid.
    assert failure(mechanism("SCRAM-SHA-1"), f"n,{authzid},n=user,r=abc").condition == "invalid-authzid"


_N = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
_P = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="


@pytest.mark.parametrize(
    "message",
    [
        "",
        f"c=biws,r={_N}",  # no proof
        f"r={_N},c=biws,p={_P}",  # out of order
        f"c=biws,p={_P}",
        f"c=bi!s,r={_N},p={_P}",  # c= is not base64
        f"c=biws,r={_N},p=",
        f"c=biws,r={_N},p=AAAA",  # a proof of the wrong length
        f"c=biws,r={_N},p={_P[:-1]}",  # bad padding
        f"c=biws,r={_N},p={_P},x=1",  # the proof comes last
        f"c=biws,r={_N},m=1,p={_P}",  # reserved-mext
        f"c=biws,r={_N},c=biws,p={_P}",
        f"c=biws,r={_N},p=a,p={_P}",
        f"c=biws,r={_N},p={_P}\x00",
    ],
)
def test_malformed_client_final(message: str) -> None:
    mech = mechanism("SCRAM-SHA-1", nonce=RFC5802.server_nonce)
    server_first(mech, RFC5802.client_first, all_keys())
    assert failure(mech, message).condition == "malformed-request"


def test_unknown_extensions_are_ignored_but_authenticated() -> None:
    # RFC 5802 section 5.1: extensions the server does not know are ignored; they stay in AuthMessage.
    mech = mechanism("SCRAM-SHA-256")
    bare = "n=user,r=abc,x=extension"
    first = server_first(mech, "n,," + bare, all_keys())
    final = client_final("sha256", "pencil", client_first_bare=bare, server_first=first, cbind_input=b"n,,")
    step = mech.receive(final.message.encode())
    assert step == Success("user", None, final.expected_server_final.encode())


def test_username_escapes_are_undone() -> None:
    mech = mechanism("SCRAM-SHA-1")
    assert mech.receive(b"n,,n=a=2Cb=3Dc\xc3\xa9,r=abc") == NeedCredentials("a,b=c\u00e9")


# -- out of turn ---------------------------------------------------------------------------------------------


def test_messages_out_of_turn() -> None:
    mech = mechanism("SCRAM-SHA-1")
    with pytest.raises(RuntimeError):
        mech.provide_credentials(all_keys())  # nothing asked for yet
    mech.receive(RFC5802.client_first.encode())
    assert failure(mech, RFC5802.client_final).condition == "malformed-request"  # credentials still pending
    with pytest.raises(RuntimeError):
        mech.provide_credentials(all_keys())  # the failure spent the exchange


def test_nothing_after_success() -> None:
    mech = mechanism("SCRAM-SHA-1", nonce=RFC5802.server_nonce)
    server_first(mech, RFC5802.client_first, all_keys())
    assert isinstance(mech.receive(RFC5802.client_final.encode()), Success)
    assert failure(mech, RFC5802.client_final).condition == "malformed-request"


def test_a_failed_exchange_is_spent() -> None:
    mech = mechanism("SCRAM-SHA-1", nonce=RFC5802.server_nonce)
    server_first(mech, RFC5802.client_first, all_keys("wrong"))
    assert failure(mech, RFC5802.client_final).condition == "not-authorized"
    # Even the right answer now is out of turn.
    assert failure(mech, RFC5802.client_final).condition == "malformed-request"


# -- channel binding (RFC 5802 section 6, RFC 9266, RFC 5929) ------------------------------------------------


@PLUS
@CB_TYPES
def test_plus_with_the_connections_binding_succeeds(name: str, cb_type: str) -> None:
    mech, final, server_final = login(name, f"p={cb_type},,", BINDINGS[cb_type], bindings=BINDINGS)
    assert mech.receive(final.encode()) == Success("user", None, server_final.encode())


@PLUS
@CB_TYPES
def test_plus_binding_data_must_match_the_transport(name: str, cb_type: str) -> None:
    # The client saw a different channel (a man in the middle terminates TLS): its cbind-data differ.
    other = next(data for key, data in BINDINGS.items() if key != cb_type)
    for data in (other, b"", BINDINGS[cb_type][:-1], BINDINGS[cb_type] + b"\x00"):
        mech, final, _ = login(name, f"p={cb_type},,", data, bindings=BINDINGS)
        assert failure(mech, final).condition == "not-authorized"


@PLUS
def test_plus_gs2_header_in_c_must_be_the_one_sent(name: str) -> None:
    data = BINDINGS["tls-server-end-point"]
    for sent_then in ("p=tls-server-end-point,,", "n,,", "y,,", "p=tls-exporter,a=user,"):
        mech, final, _ = login(name, "p=tls-exporter,,", data, bindings=BINDINGS, client_gs2=sent_then)
        assert failure(mech, final).condition == "not-authorized"


@PLUS
@pytest.mark.parametrize(
    ("cb_type", "provided"),
    [
        ("tls-exporter", "tls-server-end-point"),  # e.g. TLS 1.2: no exporter binding (RFC 9266 section 3)
        ("tls-server-end-point", "tls-exporter"),
        ("tls-unique", "tls-exporter"),  # never provided
    ],
)
def test_plus_with_a_binding_type_the_connection_lacks(name: str, cb_type: str, provided: str) -> None:
    # RFC 5802 section 7 (e=unsupported-channel-binding-type).
    mech = mechanism(name, {provided: BINDINGS[provided]})
    assert failure(mech, f"p={cb_type},,n=user,r=abc").condition == "not-authorized"


@PLUS
@pytest.mark.parametrize("flag", ["n", "y"])
def test_plus_without_channel_binding_is_malformed(name: str, flag: str) -> None:
    # RFC 5802 section 6: a client that picks a -PLUS mechanism MUST send "p".
    assert failure(mechanism(name, BINDINGS), f"{flag},,n=user,r=abc").condition == "malformed-request"


@PLUS
@pytest.mark.parametrize("flag", ["p=", "p=tls_exporter", "p=tls exporter"])
def test_plus_with_a_bad_binding_name_is_malformed(name: str, flag: str) -> None:
    assert failure(mechanism(name, BINDINGS), f"{flag},,n=user,r=abc").condition == "malformed-request"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_channel_binding_with_a_non_plus_mechanism_is_malformed(name: str) -> None:
    message = "p=tls-exporter,,n=user,r=abc"
    assert failure(mechanism(name, BINDINGS), message).condition == "malformed-request"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_y_flag_when_the_server_offers_plus_is_a_downgrade(name: str) -> None:
    # RFC 5802 section 6: "y" means the client supports channel binding but thinks the server does not; the
    # server does (it offers -PLUS whenever it has bindings), so someone stripped -PLUS: fail.
    for bindings in (BINDINGS, {"tls-server-end-point": BINDINGS["tls-server-end-point"]}):
        assert failure(mechanism(name, bindings), "y,,n=user,r=abc").condition == "not-authorized"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_y_flag_without_channel_binding_on_the_server_succeeds(name: str) -> None:
    mech, final, server_final = login(name, "y,,")
    assert final.startswith("c=eSws,")  # base64("y,,")
    assert mech.receive(final.encode()) == Success("user", None, server_final.encode())


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_n_flag_is_accepted_when_the_server_could_bind(name: str) -> None:
    # "n": the client does not support channel binding at all; nothing was downgraded.
    mech, final, server_final = login(name, "n,,", bindings=BINDINGS)
    assert mech.receive(final.encode()) == Success("user", None, server_final.encode())


@pytest.mark.parametrize(("sent", "bound"), [("n,,", "y,,"), ("y,,", "n,,"), ("n,,", "n,a=user,")])
def test_gs2_header_in_c_must_be_the_one_sent(sent: str, bound: str) -> None:
    mech, final, _ = login("SCRAM-SHA-256", sent, client_gs2=bound)
    assert failure(mech, final).condition == "not-authorized"


# -- authzid -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "authzid"),
    [("a=user", "user"), ("a=user@example.com", "user@example.com"), ("a=a=2Cb=3Dc", "a,b=c")],
)
def test_authzid_is_reported(field: str, authzid: str) -> None:
    # The mechanism reports it; whether this user may act as it is the stream's decision (RFC 6120 6.3.8).
    mech, final, server_final = login("SCRAM-SHA-256", f"n,{field},")
    assert mech.receive(final.encode()) == Success("user", authzid, server_final.encode())


@PLUS
def test_authzid_with_channel_binding(name: str) -> None:
    header = "p=tls-exporter,a=user@example.com,"
    mech, final, server_final = login(name, header, BINDINGS["tls-exporter"], bindings=BINDINGS)
    assert mech.receive(final.encode()) == Success("user", "user@example.com", server_final.encode())


def test_no_authzid_is_none() -> None:
    mech, final, _ = login("SCRAM-SHA-1", "n,,")
    step = mech.receive(final.encode())
    assert isinstance(step, Success) and step.authzid is None
