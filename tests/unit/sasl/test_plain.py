"""PLAIN server side (RFC 4616): ``[authzid] NUL authcid NUL passwd`` checked against stored SCRAM keys."""

from __future__ import annotations

import functools

import pytest

from xmppd.errors import SASLFailure
from xmppd.sasl import HashName, NeedCredentials, ScramKeys, Success
from xmppd.sasl.plain import PlainMechanism
from xmppd.sasl.scram import derive_keys


@functools.cache
def keys(password: str, hash_name: HashName = "sha256") -> ScramKeys:
    return derive_keys(password, hash_name, 4096, b"0123456789abcdef")


ALICE: dict[HashName, ScramKeys] = {"sha1": keys("secret", "sha1"), "sha256": keys("secret")}


def started(message: bytes) -> PlainMechanism:
    mech = PlainMechanism()
    step = mech.receive(message)
    assert isinstance(step, NeedCredentials), step
    return mech


def refused(mech: PlainMechanism, credentials: dict[HashName, ScramKeys] | None) -> SASLFailure:
    with pytest.raises(SASLFailure) as info:
        mech.provide_credentials(credentials)
    return info.value


def test_success() -> None:
    mech = PlainMechanism()
    assert mech.receive(b"\x00alice\x00secret") == NeedCredentials("alice")
    assert mech.provide_credentials(ALICE) == Success(username="alice", authzid=None, additional_data=None)


def test_rfc_6120_example() -> None:
    # RFC 6120 section 9.2.2 step 4 sends this initial response (base64 "AGp1bGlldAByMG0zMG15cjBtMzA=").
    mech = started(b"\x00juliet\x00r0m30myr0m30")
    assert mech.provide_credentials({"sha256": keys("r0m30myr0m30")}) == Success("juliet", None, None)


def test_authzid_is_reported() -> None:
    # Whether alice may act as this identity is the stream's decision (RFC 6120 section 6.3.8).
    mech = PlainMechanism()
    assert mech.receive(b"alice@example.com\x00alice\x00secret") == NeedCredentials("alice")
    assert mech.provide_credentials(ALICE) == Success("alice", "alice@example.com", None)


def test_empty_authzid_is_none() -> None:
    step = started(b"\x00alice\x00secret").provide_credentials(ALICE)
    assert isinstance(step, Success) and step.authzid is None


def test_password_with_spaces_and_non_ascii() -> None:
    password = "p\u00e4ss w\u00f6rd \u00e9t\u00e9"
    mech = started(b"\x00ren\xc3\xa9\x00" + password.encode())
    assert mech.provide_credentials({"sha256": keys(password)}) == Success("ren\u00e9", None, None)


def test_password_is_prepared_like_the_stored_one() -> None:
    # OpaqueString (RFC 8265 section 4.2): a decomposed e-acute equals the composed one that was stored.
    mech = started("\x00alice\x00caf\u0065\u0301".encode())
    assert isinstance(mech.provide_credentials({"sha256": keys("caf\u00e9")}), Success)


def test_sha1_keys_are_used_when_there_are_no_sha256_keys() -> None:
    mech = started(b"\x00alice\x00secret")
    assert isinstance(mech.provide_credentials({"sha1": keys("secret", "sha1")}), Success)
    mech = started(b"\x00alice\x00wrong")
    assert refused(mech, {"sha1": keys("secret", "sha1")}).condition == "not-authorized"


@pytest.mark.parametrize("password", [b"Secret", b"secret ", b"secre", b"secret\xc2\xa0x", b"sec\x07ret"])
def test_wrong_password_is_not_authorized(password: bytes) -> None:
    assert refused(started(b"\x00alice\x00" + password), ALICE).condition == "not-authorized"


def test_unknown_user_fails_like_a_wrong_password() -> None:
    wrong_password = refused(started(b"\x00alice\x00wrong"), ALICE)
    no_keys: list[dict[HashName, ScramKeys] | None] = [None, {}]
    for credentials in no_keys:
        unknown = refused(started(b"\x00nobody\x00wrong"), credentials)
        assert (unknown.condition, unknown.text) == (wrong_password.condition, wrong_password.text)
    assert wrong_password.condition == "not-authorized"
    assert "wrong" not in str(wrong_password)  # never the password in an error text


def test_unknown_user_with_a_custom_fake_iteration_count() -> None:
    mech = PlainMechanism(fake_iterations=1)
    mech.receive(b"\x00nobody\x00x")
    with pytest.raises(SASLFailure):
        mech.provide_credentials(None)
    with pytest.raises(ValueError):
        PlainMechanism(fake_iterations=0)


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"alice",
        b"alice\x00secret",  # one NUL: no authzid field
        b"\x00alice",
        b"\x00alice\x00",  # empty password (RFC 4616 section 2: passwd = 1*SAFE)
        b"\x00\x00secret",  # empty authcid
        b"\x00\x00",
        b"a\x00alice\x00sec\x00ret",  # a NUL inside the password cannot be told from a separator
        b"\x00alice\x00secret\x00",
        b"\x00al\xffice\x00secret",  # not UTF-8
        b"\x00alice\x00secr\xe9t",
    ],
)
def test_malformed_messages(message: bytes) -> None:
    mech = PlainMechanism()
    with pytest.raises(SASLFailure) as info:
        mech.receive(message)
    assert info.value.condition == "malformed-request"
    with pytest.raises(RuntimeError):  # the exchange is spent
        mech.provide_credentials(ALICE)


def test_messages_out_of_turn() -> None:
    mech = PlainMechanism()
    with pytest.raises(RuntimeError):
        mech.provide_credentials(ALICE)
    mech.receive(b"\x00alice\x00secret")
    with pytest.raises(SASLFailure) as info:
        mech.receive(b"\x00alice\x00secret")
    assert info.value.condition == "malformed-request"
    with pytest.raises(RuntimeError):
        mech.provide_credentials(ALICE)


def test_nothing_after_success() -> None:
    mech = started(b"\x00alice\x00secret")
    assert isinstance(mech.provide_credentials(ALICE), Success)
    with pytest.raises(RuntimeError):
        mech.provide_credentials(ALICE)
    with pytest.raises(SASLFailure):
        mech.receive(b"\x00alice\x00secret")
