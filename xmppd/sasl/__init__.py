"""SASL (RFC 4422) for XMPP: server-side mechanisms and stored-credential derivation.

A mechanism is sans-IO: the stream feeds it what the client sent and gets back one ``Step``. When a mechanism
needs the stored credentials of the user the client named, it answers ``NeedCredentials``; whoever owns the
storage looks them up and calls ``provide_credentials``.

``available_mechanisms`` says what to offer on a connection and ``create_mechanism`` makes the object for the
one the client chose. The mechanisms live in ``scram.py`` (SCRAM-SHA-1/-256 and -PLUS, plus ``derive_keys``
for the keys accounts store) and ``plain.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from xmppd.errors import SASLFailure

HashName = Literal["sha1", "sha256"]


@dataclass(frozen=True, slots=True)
class ScramKeys:
    """What the server stores for one SCRAM hash (RFC 5802 section 3): never the password itself."""

    hash_name: HashName
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``<challenge/>`` with this data and wait for the client's ``<response/>``."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NeedCredentials:
    """Look up the stored keys of ``username`` (as the client sent it) and call ``provide_credentials``."""

    username: str


@dataclass(frozen=True, slots=True)
class Success:
    """Authentication succeeded; ``additional_data`` goes into ``<success/>``."""

    username: str
    authzid: str | None
    additional_data: bytes | None


Step = Challenge | NeedCredentials | Success


class ServerMechanism(ABC):
    """The server side of one SASL mechanism for one authentication exchange (RFC 4422 section 3).

    Sans-IO: the stream passes in the decoded payload of ``<auth/>`` (the initial response) and of every
    ``<response/>``, and acts on the ``Step`` that comes back. base64 is the stream's job (a bad encoding is
    its ``incorrect-encoding``); a mechanism sees bytes.

    Both methods raise ``xmppd.errors.SASLFailure`` with an RFC 6120 section 6.5 condition when the exchange
    fails; the stream sends ``<failure/>`` and drops the object, which is spent after any failure or success.
    """

    name: ClassVar[str]
    """The IANA-registered mechanism name, as offered in ``<mechanisms/>``."""

    @abstractmethod
    def receive(self, data: bytes) -> Step:
        """Take the client's initial response or a later ``<response/>`` payload; return what to do next.

        Raises:
            SASLFailure: ``malformed-request`` when the data violates the mechanism's syntax (RFC 6120 section
                6.5.8), ``not-authorized`` when the credentials do not verify (section 6.5.10), or another
                section 6.5 condition.
        """

    @abstractmethod
    def provide_credentials(self, keys: Mapping[HashName, ScramKeys] | None) -> Step:
        """Answer ``NeedCredentials``: that user's stored keys by hash, or None when there is no such user.

        Raises:
            SASLFailure: as ``receive``.
            RuntimeError: when no ``NeedCredentials`` is pending (a bug in the caller).
        """


#: The mechanism names this package implements, strongest first (the order ``available_mechanisms`` uses).
PLUS_MECHANISMS: Final[tuple[str, ...]] = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
SCRAM_MECHANISMS: Final[tuple[str, ...]] = ("SCRAM-SHA-256", "SCRAM-SHA-1")
PLAIN: Final = "PLAIN"


def available_mechanisms(
    *, tls: bool, channel_bindings: Mapping[str, bytes], plain_allowed: bool = True
) -> list[str]:
    """The mechanisms to offer on a connection, strongest first.

    Args:
        tls: whether the stream is encrypted (STARTTLS done, or direct TLS).
        channel_bindings: the channel-binding types this connection can provide ("tls-exporter" per RFC 9266,
            "tls-server-end-point" per RFC 5929, ...) mapped to their data; the -PLUS variants are offered
            only when there is at least one.
        plain_allowed: the server's policy for PLAIN.

    PLAIN is offered only over TLS: it sends the password itself (RFC 4616 section 6, RFC 6120 section 13.8).
    """
    names: list[str] = []
    if channel_bindings:
        names.extend(PLUS_MECHANISMS)
    names.extend(SCRAM_MECHANISMS)
    if tls and plain_allowed:
        names.append(PLAIN)
    return names


def create_mechanism(
    name: str,
    *,
    channel_bindings: Mapping[str, bytes],
    tls: bool,
    plain_allowed: bool = True,
    nonce_factory: Callable[[], str] | None = None,
    server_secret: bytes | None = None,
    fake_iterations: int | None = None,
) -> ServerMechanism:
    """A fresh server mechanism for one exchange.

    Args:
        name: the mechanism the client chose in ``<auth mechanism=.../>``.
        channel_bindings: as for ``available_mechanisms``; SCRAM uses it to check the client's binding and to
            detect a downgrade (RFC 5802 section 6).
        tls: whether the stream is encrypted.
        plain_allowed: the server's policy for PLAIN, as for ``available_mechanisms``.
        nonce_factory: SCRAM only: returns the server's part of the nonce (printable ASCII without ","); tests
            inject a fixed one, the default draws it from ``secrets``.
        server_secret: SCRAM only: the key from which the fake salt for unknown users is derived, so the same
            unknown name always sees the same salt. Pass a persistent secret in production; the default is a
            random one per process.
        fake_iterations: the iteration count SCRAM announces, and PLAIN spends, for a user that does not exist;
            pass the count new accounts are stored with, so that unknown users look and cost the same as real
            ones. ``xmppd.sasl.scram.FAKE_ITERATIONS`` when None.

    Raises:
        SASLFailure: ``invalid-mechanism`` (RFC 6120 section 6.5.7) when ``name`` is unknown or would not be
            offered on this connection (PLAIN without TLS or against the policy, -PLUS without channel binding).
    """
    # Imported here: the mechanism modules import this package for ServerMechanism and the Step types.
    from xmppd.sasl.plain import PlainMechanism  # noqa: PLC0415
    from xmppd.sasl.scram import FAKE_ITERATIONS, SCRAM_CLASSES  # noqa: PLC0415

    offered = available_mechanisms(tls=tls, channel_bindings=channel_bindings, plain_allowed=plain_allowed)
    if name not in offered:
        raise SASLFailure("invalid-mechanism")
    iterations = FAKE_ITERATIONS if fake_iterations is None else fake_iterations
    if name == PLAIN:
        return PlainMechanism(fake_iterations=iterations)
    return SCRAM_CLASSES[name](
        channel_bindings=channel_bindings,
        nonce_factory=nonce_factory,
        server_secret=server_secret,
        fake_iterations=iterations,
    )
