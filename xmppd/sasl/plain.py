"""PLAIN (RFC 4616), server side: the client sends its password, the server checks it against the stored keys.

It is offered only over TLS (``xmppd.sasl.available_mechanisms``; RFC 4616 section 6, RFC 6120 section 13.8).

One exchange::

    receive(authzid NUL authcid NUL passwd)  -> NeedCredentials(authcid)
    provide_credentials(keys)                -> Success(authcid, authzid or None, None)

``provide_credentials`` re-derives the SCRAM keys from the password (PBKDF2 with the stored iteration count):
that is CPU work, so the caller should run it off the event loop (``loop.run_in_executor``). The password is
dropped as soon as it has been checked, and is never logged or put in an exception text.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from xmppd.errors import SASLFailure
from xmppd.sasl import HashName, NeedCredentials, ScramKeys, ServerMechanism, Step, Success
from xmppd.sasl.scram import FAKE_ITERATIONS, SALT_SIZE, verify_password


def _dummy_keys(iterations: int) -> ScramKeys:
    # Checked against when the user does not exist, so that an unknown name costs the same PBKDF2 work as a
    # wrong password and the answer time does not tell them apart. Nothing derives to an all-zero StoredKey.
    return ScramKeys(
        hash_name="sha256",
        salt=bytes(SALT_SIZE),
        iterations=iterations,
        stored_key=bytes(32),
        server_key=bytes(32),
    )


class _State(enum.Enum):
    MESSAGE = "message"
    CREDENTIALS = "credentials"
    DONE = "done"


class PlainMechanism(ServerMechanism):
    """One server-side PLAIN exchange (RFC 4616)."""

    name = "PLAIN"

    def __init__(self, *, fake_iterations: int = FAKE_ITERATIONS) -> None:
        """Set up one exchange.

        Args:
            fake_iterations: the PBKDF2 iterations spent on an unknown user; it should be the count new accounts
                are stored with, so that the answer time does not tell an unknown user from a wrong password.
        """
        if fake_iterations < 1:
            raise ValueError("the iteration count must be at least 1")
        self._fake_iterations = fake_iterations
        self._state = _State.MESSAGE
        self._authzid: str | None = None
        self._authcid = ""
        self._password: str | None = None

    def receive(self, data: bytes) -> Step:
        """Parse ``[authzid] NUL authcid NUL passwd`` (RFC 4616 section 2) and ask for the authcid's keys.

        Raises:
            SASLFailure: ``malformed-request`` when the message is not UTF-8, does not hold exactly two NULs,
                or has an empty authcid or password (RFC 4616 section 2 requires both), or comes out of turn.
        """
        if self._state is not _State.MESSAGE:
            self._state = _State.DONE
            raise SASLFailure("malformed-request", "no PLAIN message expected now")
        self._state = _State.DONE
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLFailure("malformed-request", "not UTF-8") from None
        parts = text.split("\x00")
        if len(parts) != 3:
            raise SASLFailure("malformed-request", "PLAIN needs authzid NUL authcid NUL passwd")
        authzid, authcid, password = parts
        if not authcid or not password:
            raise SASLFailure("malformed-request", "empty authcid or password")
        self._authzid = authzid or None
        self._authcid = authcid
        self._password = password
        self._state = _State.CREDENTIALS
        return NeedCredentials(authcid)

    def provide_credentials(self, keys: Mapping[HashName, ScramKeys] | None) -> Step:
        """Check the password against the SHA-256 keys (or the SHA-1 keys when there are none).

        This runs PBKDF2: call it off the event loop.

        Raises:
            SASLFailure: ``not-authorized`` (RFC 6120 section 6.5.10) for an unknown user or a wrong password,
                alike.
            RuntimeError: when no ``NeedCredentials`` is pending.
        """
        if self._state is not _State.CREDENTIALS or self._password is None:
            raise RuntimeError("provide_credentials() without NeedCredentials")
        password, self._password = self._password, None
        self._state = _State.DONE
        stored = None
        if keys is not None:
            stored = keys.get("sha256")
            if stored is None:
                stored = keys.get("sha1")
        if stored is None:
            # The same work as a real check; the result is ignored.
            verify_password(password, _dummy_keys(self._fake_iterations))
            raise SASLFailure("not-authorized", "authentication failed")
        if not verify_password(password, stored):
            raise SASLFailure("not-authorized", "authentication failed")
        return Success(username=self._authcid, authzid=self._authzid, additional_data=None)
