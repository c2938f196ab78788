"""Which mechanisms a connection offers (``available_mechanisms``) and how one is made (``create_mechanism``)."""

from __future__ import annotations

import base64

import pytest

from xmppd.errors import SASLFailure
from xmppd.sasl import (
    PLAIN,
    PLUS_MECHANISMS,
    SCRAM_MECHANISMS,
    Challenge,
    NeedCredentials,
    Success,
    available_mechanisms,
    create_mechanism,
)
from xmppd.sasl.plain import PlainMechanism
from xmppd.sasl.scram import SCRAM_CLASSES, derive_keys

EXPORTER = {"tls-exporter": b"\x07" * 32}
BOTH = {"tls-exporter": b"\x07" * 32, "tls-server-end-point": b"\x08" * 32}


@pytest.mark.parametrize(
    ("tls", "bindings", "plain_allowed", "expected"),
    [
        (False, {}, True, ["SCRAM-SHA-256", "SCRAM-SHA-1"]),
        (True, {}, True, ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]),
        (True, {}, False, ["SCRAM-SHA-256", "SCRAM-SHA-1"]),
        (
            True,
            EXPORTER,
            True,
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
        ),
        (True, BOTH, False, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"]),
        (True, {"tls-server-end-point": b"\x08" * 32}, False, [*PLUS_MECHANISMS, *SCRAM_MECHANISMS]),
    ],
)
def test_available_mechanisms(
    tls: bool, bindings: dict[str, bytes], plain_allowed: bool, expected: list[str]
) -> None:
    offered = available_mechanisms(tls=tls, channel_bindings=bindings, plain_allowed=plain_allowed)
    assert offered == expected


def test_plain_is_never_offered_without_tls() -> None:
    # RFC 4616 section 6, RFC 6120 section 13.8: PLAIN sends the password itself.
    for plain_allowed in (True, False):
        assert PLAIN not in available_mechanisms(tls=False, channel_bindings={}, plain_allowed=plain_allowed)
    with pytest.raises(SASLFailure) as info:
        create_mechanism(PLAIN, channel_bindings={}, tls=False)
    assert info.value.condition == "invalid-mechanism"


def test_plain_against_the_policy_is_refused() -> None:
    with pytest.raises(SASLFailure) as info:
        create_mechanism(PLAIN, channel_bindings={}, tls=True, plain_allowed=False)
    assert info.value.condition == "invalid-mechanism"


@pytest.mark.parametrize("name", PLUS_MECHANISMS)
def test_plus_without_channel_binding_is_refused(name: str) -> None:
    with pytest.raises(SASLFailure) as info:
        create_mechanism(name, channel_bindings={}, tls=True)
    assert info.value.condition == "invalid-mechanism"


@pytest.mark.parametrize(
    "name", ["", "DIGEST-MD5", "CRAM-MD5", "EXTERNAL", "ANONYMOUS", "scram-sha-1", "SCRAM-SHA-512", "plain"]
)
def test_unknown_mechanisms_are_invalid(name: str) -> None:
    # RFC 6120 section 6.5.7; mechanism names are case-sensitive (RFC 4422 section 3.1).
    with pytest.raises(SASLFailure) as info:
        create_mechanism(name, channel_bindings=BOTH, tls=True)
    assert info.value.condition == "invalid-mechanism"


@pytest.mark.parametrize(("tls", "bindings"), [(False, {}), (True, {}), (True, EXPORTER), (True, BOTH)])
def test_every_offered_mechanism_can_be_created(tls: bool, bindings: dict[str, bytes]) -> None:
    for name in available_mechanisms(tls=tls, channel_bindings=bindings):
        mech = create_mechanism(name, channel_bindings=bindings, tls=tls)
        assert mech.name == name
        if name == PLAIN:
            assert isinstance(mech, PlainMechanism)
        else:
            assert type(mech) is SCRAM_CLASSES[name]
            assert mech.plus == name.endswith("-PLUS")
            assert mech.hash_name == ("sha256" if "SHA-256" in name else "sha1")


def test_each_exchange_gets_a_fresh_object() -> None:
    first = create_mechanism("SCRAM-SHA-256", channel_bindings={}, tls=True)
    second = create_mechanism("SCRAM-SHA-256", channel_bindings={}, tls=True)
    assert first is not second


def test_create_mechanism_passes_the_nonce_factory_and_secret() -> None:
    def server_first(secret: bytes) -> str:
        mech = create_mechanism(
            "SCRAM-SHA-1", channel_bindings={}, tls=False, nonce_factory=lambda: "srv", server_secret=secret
        )
        assert mech.receive(b"n,,n=nobody,r=cli") == NeedCredentials("nobody")
        step = mech.provide_credentials(None)
        assert isinstance(step, Challenge)
        return step.data.decode()

    assert server_first(b"a" * 32).startswith("r=clisrv,s=")
    assert server_first(b"a" * 32) == server_first(b"a" * 32)
    assert server_first(b"a" * 32) != server_first(b"b" * 32)


def test_create_mechanism_passes_the_fake_iteration_count() -> None:
    mech = create_mechanism("SCRAM-SHA-256", channel_bindings={}, tls=False, fake_iterations=12_345)
    mech.receive(b"n,,n=nobody,r=cli")
    step = mech.provide_credentials(None)
    assert isinstance(step, Challenge) and step.data.endswith(b",i=12345")


def test_rfc_5802_example_through_the_registry() -> None:
    # RFC 5802 section 5, with the mechanism made the way the stream makes it.
    mech = create_mechanism(
        "SCRAM-SHA-1", channel_bindings={}, tls=True, nonce_factory=lambda: "3rfcNHYJY1ZVvWVs7j"
    )
    mech.receive(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    step = mech.provide_credentials({"sha1": derive_keys("pencil", "sha1", 4096, salt)})
    assert step == Challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    step = mech.receive(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    assert step == Success("user", None, b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
