"""SCRAM, server side: SCRAM-SHA-1 (RFC 5802), SCRAM-SHA-256 (RFC 7677) and their -PLUS variants.

The -PLUS variants bind the authentication to the TLS channel (RFC 5802 section 6) with whichever
channel-binding type the client picks among those the connection provides: ``tls-exporter`` (RFC 9266) or
``tls-server-end-point`` (RFC 5929 section 4); the connection's binding data come in ``channel_bindings``.

One exchange, as the stream drives it::

    receive(client-first-message)   -> NeedCredentials(username)
    provide_credentials(keys)       -> Challenge(server-first-message)
    receive(client-final-message)   -> Success(username, authzid, b"v=" + base64(ServerSignature))

Any failure raises ``SASLFailure`` with an RFC 6120 section 6.5 condition, after which the object is spent.
Syntax errors are ``malformed-request``; a proof, nonce or channel binding that does not verify is
``not-authorized``. An unknown user is not revealed before the final step: the server-first message carries a
fake salt derived from the prepared username and a server secret, and the final step fails exactly as a wrong
password does (RFC 5802 section 7 has an ``e=unknown-user``; we deliberately do not distinguish it, so that names
cannot be probed).

``derive_keys`` and ``verify_password`` compute and check what accounts store (RFC 5802 section 3): a salt, an
iteration count, StoredKey and ServerKey, never the password.

No secret, password, key or SASL payload is logged or put in an exception text.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

import precis_i18n

from xmppd.errors import JIDError, SASLFailure
from xmppd.jid import prep_localpart
from xmppd.sasl import Challenge, HashName, NeedCredentials, ScramKeys, ServerMechanism, Step, Success

DEFAULT_ITERATIONS: Final = 4096
"""The ``derive_keys`` default: RFC 7677 section 4 asks for at least 4096 iterations of stored keys."""
FAKE_ITERATIONS: Final = 4096
"""The default iteration count announced to users that do not exist: pass the count new accounts get."""
SALT_SIZE: Final = 16
"""Bytes of random salt ``derive_keys`` draws by default."""

_DIGEST_SIZES: Final[dict[str, int]] = {"sha1": 20, "sha256": 32}
_OPAQUE_STRING: Final[Any] = precis_i18n.get_profile("OpaqueString")
_PROCESS_SECRET: Final = secrets.token_bytes(32)
_FAKE_SALT_LABEL: Final = b"xmppd SCRAM fake salt\x00"
_FAKE_KEY_LABEL: Final = b"xmppd SCRAM fake key\x00"

# RFC 5802 section 7 grammar pieces.
_CB_NAME: Final = re.compile(r"[A-Za-z0-9.\-]+")  # cb-name
_NONCE: Final = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # printable, without ","
_EXTENSION: Final = re.compile(r"([A-Za-z])=.+", re.DOTALL)  # attr-val with a one-letter attr and a value


# -- stored keys ---------------------------------------------------------------------------------------------


def _hmac(hash_name: HashName, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hash_name).digest()


def _hash(hash_name: HashName, data: bytes) -> bytes:
    return hashlib.new(hash_name, data).digest()


def _salted_password(password: str, hash_name: HashName, salt: bytes, iterations: int) -> bytes:
    # RFC 7677 section 4 / RFC 8265 section 4.2: prepare the password with the PRECIS OpaqueString profile (it
    # replaces the SASLprep of RFC 5802 section 2.2), then Hi() of RFC 5802 section 2.2 is PBKDF2 (RFC 8018).
    prepared: str = _OPAQUE_STRING.enforce(password)
    return hashlib.pbkdf2_hmac(hash_name, prepared.encode("utf-8"), salt, iterations)


def derive_keys(
    password: str, hash_name: HashName, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> ScramKeys:
    """The SCRAM keys to store for ``password`` (RFC 5802 section 3).

    SaltedPassword = Hi(OpaqueString(password), salt, iterations); StoredKey = H(HMAC(SaltedPassword,
    "Client Key")); ServerKey = HMAC(SaltedPassword, "Server Key").

    This is PBKDF2, CPU work proportional to ``iterations``: run it off the event loop.

    Args:
        password: the password as the user typed it.
        hash_name: "sha1" for SCRAM-SHA-1, "sha256" for SCRAM-SHA-256.
        iterations: at least 1; what a server should store (4096 or more, RFC 7677 section 4) is the caller's
            choice.
        salt: the salt to use; a fresh random one of ``SALT_SIZE`` bytes when None.

    Raises:
        ValueError: an unknown hash, ``iterations`` below 1, an empty salt, or a password the OpaqueString
            profile rejects (``UnicodeEncodeError``, a ValueError: empty, control characters, ...).
    """
    if hash_name not in _DIGEST_SIZES:
        raise ValueError(f"unsupported SCRAM hash: {hash_name!r}")
    if iterations < 1:
        raise ValueError("the iteration count must be at least 1")
    if salt is None:
        salt = secrets.token_bytes(SALT_SIZE)
    elif not salt:
        raise ValueError("the salt must not be empty")
    salted = _salted_password(password, hash_name, salt, iterations)
    client_key = _hmac(hash_name, salted, b"Client Key")
    return ScramKeys(
        hash_name=hash_name,
        salt=salt,
        iterations=iterations,
        stored_key=_hash(hash_name, client_key),
        server_key=_hmac(hash_name, salted, b"Server Key"),
    )


def verify_password(password: str, keys: ScramKeys) -> bool:
    """Whether ``password`` matches stored ``keys``.

    It re-derives the keys with their salt and iteration count and compares StoredKey. The comparison takes
    constant time. A password the OpaqueString profile rejects never matches. This is PBKDF2: run it off the
    event loop.
    """
    try:
        derived = derive_keys(password, keys.hash_name, keys.iterations, keys.salt)
    except ValueError:
        return False
    return hmac.compare_digest(derived.stored_key, keys.stored_key)


# -- the mechanism -------------------------------------------------------------------------------------------


def _default_nonce() -> str:
    # RFC 5802 section 5.1: the server's nonce part must be fresh and unpredictable; token_urlsafe has no ",".
    return secrets.token_urlsafe(18)


def _malformed(text: str) -> SASLFailure:
    return SASLFailure("malformed-request", text)


def _decode_text(data: bytes) -> str:
    # RFC 5802 section 7: SCRAM messages are UTF-8 and no value may contain NUL.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("not UTF-8") from None
    if "\x00" in text:
        raise _malformed("NUL in a SCRAM message")
    return text


def _unescape_saslname(value: str) -> str | None:
    """Undo RFC 5802 section 5.1 escaping (",": "=2C", "=": "=3D"); None when the value is empty or invalid.

    RFC 5802 section 5.1: an "=" not followed by "2C" or "3D" MUST fail the authentication.
    """
    if not value:
        return None
    first, *rest = value.split("=")
    pieces = [first]
    for piece in rest:
        if piece.startswith("2C"):
            pieces.append("," + piece[2:])
        elif piece.startswith("3D"):
            pieces.append("=" + piece[2:])
        else:
            return None
    return "".join(pieces)


def _decode_base64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_extensions(attributes: list[str], reserved: str) -> None:
    # RFC 5802 section 5.1: unknown extensions are ignored, but "m" (reserved-mext) MUST fail the exchange; an
    # attribute the message already defines is not an extension.
    for attribute in attributes:
        match = _EXTENSION.fullmatch(attribute)
        if match is None or match.group(1) in reserved:
            raise _malformed("bad SCRAM attribute")


class _State(enum.Enum):
    CLIENT_FIRST = "client-first"
    CREDENTIALS = "credentials"
    CLIENT_FINAL = "client-final"
    DONE = "done"


class SCRAMMechanism(ServerMechanism):
    """A server-side SCRAM exchange; the concrete classes fix the hash and whether channel binding is used."""

    hash_name: ClassVar[HashName]
    plus: ClassVar[bool]

    def __init__(
        self,
        *,
        channel_bindings: Mapping[str, bytes],
        nonce_factory: Callable[[], str] | None = None,
        server_secret: bytes | None = None,
        fake_iterations: int = FAKE_ITERATIONS,
    ) -> None:
        """Set up one exchange.

        Args:
            channel_bindings: the binding types this connection provides mapped to their data (may be empty).
            nonce_factory: returns the server's nonce part (printable ASCII without ","); random by default.
            server_secret: key for the fake salt of unknown users; a random per-process secret by default.
            fake_iterations: the iteration count announced for unknown users; it should be the one new
                accounts are stored with, or ``i=`` tells them apart.
        """
        if fake_iterations < 1:
            raise ValueError("the iteration count must be at least 1")
        # Kept as given: a connection may compute a binding's data only when a client asks for that binding.
        self._channel_bindings = channel_bindings
        self._nonce_factory = nonce_factory or _default_nonce
        self._server_secret = server_secret if server_secret is not None else _PROCESS_SECRET
        self._fake_iterations = fake_iterations
        self._state = _State.CLIENT_FIRST
        self._gs2_header = b""
        self._cb_data = b""
        self._username = ""
        self._authzid: str | None = None
        self._client_first_bare = ""
        self._client_nonce = ""
        self._nonce = ""
        self._server_first = ""
        self._stored_key = b""
        self._server_key = b""
        self._user_known = False

    def receive(self, data: bytes) -> Step:
        """Take the client-first message, then the client-final message; see the module docstring."""
        try:
            if self._state is _State.CLIENT_FIRST:
                return self._receive_client_first(data)
            if self._state is _State.CLIENT_FINAL:
                return self._receive_client_final(data)
            raise _malformed("no SCRAM message expected now")
        except SASLFailure:
            self._state = _State.DONE
            raise

    def provide_credentials(self, keys: Mapping[HashName, ScramKeys] | None) -> Step:
        """Answer with the server-first message, with a fake salt when the user or its keys for this hash are
        missing (RFC 5802 section 9)."""
        if self._state is not _State.CREDENTIALS:
            raise RuntimeError("provide_credentials() without NeedCredentials")
        stored = keys.get(self.hash_name) if keys is not None else None
        if stored is not None and stored.hash_name == self.hash_name:
            salt, iterations = stored.salt, stored.iterations
            self._stored_key, self._server_key = stored.stored_key, stored.server_key
            self._user_known = True
        else:
            identity = self._fake_identity()
            salt, iterations = self._fake_salt(identity), self._fake_iterations
            self._stored_key = self._fake_value(identity, b"stored")
            self._server_key = self._fake_value(identity, b"server")
            self._user_known = False
        server_nonce = self._nonce_factory()
        if _NONCE.fullmatch(server_nonce) is None:
            raise ValueError("the nonce factory must return printable ASCII without ','")
        self._nonce = self._client_nonce + server_nonce
        salt_text = base64.b64encode(salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt_text},i={iterations}"
        self._state = _State.CLIENT_FINAL
        return Challenge(self._server_first.encode("utf-8"))

    # -- client-first-message (RFC 5802 section 7) -----------------------------------------------------------

    def _receive_client_first(self, data: bytes) -> Step:
        text = _decode_text(data)
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise _malformed("no GS2 header")
        flag, authzid_field, bare = parts
        self._check_channel_binding_flag(flag)
        if authzid_field:
            if not authzid_field.startswith("a="):
                raise _malformed("bad authzid field")
            authzid = _unescape_saslname(authzid_field[2:])
            if authzid is None:
                # RFC 6120 section 6.5.6: an incorrectly formatted authzid.
                raise SASLFailure("invalid-authzid", "bad authzid escaping")
            self._authzid = authzid
        attributes = bare.split(",")
        if attributes[0].startswith("m="):
            # RFC 5802 section 5.1: reserved-mext MUST cause authentication failure.
            raise _malformed("mandatory extension not supported")
        if len(attributes) < 2 or not attributes[0].startswith("n=") or not attributes[1].startswith("r="):
            raise _malformed("client-first-message needs n= and r=")
        username = _unescape_saslname(attributes[0][2:])
        if username is None:
            raise _malformed("bad username escaping")
        nonce = attributes[1][2:]
        if _NONCE.fullmatch(nonce) is None:
            raise _malformed("bad client nonce")
        _check_extensions(attributes[2:], reserved="mnr")
        self._gs2_header = f"{flag},{authzid_field},".encode()
        self._username = username
        self._client_first_bare = bare
        self._client_nonce = nonce
        self._state = _State.CREDENTIALS
        return NeedCredentials(username)

    def _check_channel_binding_flag(self, flag: str) -> None:
        if flag.startswith("p="):
            if not self.plus:
                # RFC 5802 section 6: "p" selects channel binding, which only the -PLUS name offers.
                raise _malformed("channel binding requested with a non-PLUS mechanism")
            cb_name = flag[2:]
            if _CB_NAME.fullmatch(cb_name) is None:
                raise _malformed("bad channel binding name")
            cb_data = self._channel_bindings.get(cb_name)
            if cb_data is None:
                # RFC 5802 section 7 (e=unsupported-channel-binding-type): only the types this connection has.
                raise SASLFailure("not-authorized", "unsupported channel binding type")
            self._cb_data = cb_data
        elif flag in ("n", "y"):
            if self.plus:
                # RFC 5802 section 6: a client using a -PLUS mechanism MUST send "p".
                raise _malformed("a PLUS mechanism needs channel binding")
            if flag == "y" and self._channel_bindings:
                # RFC 5802 section 6: "y" says the client thinks the server cannot bind the channel; when we
                # can, a downgrade happened and the server MUST fail the authentication.
                raise SASLFailure("not-authorized", "channel binding downgrade")
        else:
            raise _malformed("bad channel binding flag")

    # -- client-final-message (RFC 5802 section 7) -----------------------------------------------------------

    def _receive_client_final(self, data: bytes) -> Step:
        text = _decode_text(data)
        without_proof, separator, proof_text = text.rpartition(",p=")
        if not separator:
            raise _malformed("client-final-message needs p=")
        attributes = without_proof.split(",")
        if len(attributes) < 2 or not attributes[0].startswith("c=") or not attributes[1].startswith("r="):
            raise _malformed("client-final-message needs c= and r=")
        _check_extensions(attributes[2:], reserved="cmpr")
        cbind_input = _decode_base64(attributes[0][2:])
        if cbind_input is None:
            raise _malformed("bad base64 in c=")
        proof = _decode_base64(proof_text)
        if proof is None or len(proof) != _DIGEST_SIZES[self.hash_name]:
            raise _malformed("bad client proof")
        nonce = attributes[1][2:]

        # RFC 5802 section 6/7: c= is base64(gs2-header [cbind-data]) and MUST match what the server expects.
        binding_ok = hmac.compare_digest(cbind_input, self._gs2_header + self._cb_data)
        # RFC 5802 section 5.1: the nonce MUST be the one the server sent.
        nonce_ok = hmac.compare_digest(nonce.encode("utf-8"), self._nonce.encode("utf-8"))
        # RFC 5802 section 3: ClientKey = ClientProof XOR ClientSignature; H(ClientKey) must be StoredKey.
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self.hash_name, self._stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        proof_ok = hmac.compare_digest(_hash(self.hash_name, client_key), self._stored_key)
        if not binding_ok:
            raise SASLFailure("not-authorized", "channel bindings do not match")
        if not nonce_ok:
            raise SASLFailure("not-authorized", "nonce mismatch")
        if not (proof_ok and self._user_known):
            # The same answer for an unknown user and a wrong password.
            raise SASLFailure("not-authorized", "invalid proof")
        server_signature = _hmac(self.hash_name, self._server_key, auth_message)
        self._state = _State.DONE
        return Success(
            username=self._username,
            authzid=self._authzid,
            additional_data=b"v=" + base64.b64encode(server_signature),
        )

    # -- unknown users ---------------------------------------------------------------------------------------

    def _fake_identity(self) -> bytes:
        # The accounts are looked up by prepared localpart (RFC 7622 section 3.3), so "Alice" and "alice" get
        # the salt of the same account; an unknown name must behave alike, or comparing the salts of two
        # spellings tells which names exist. A name that does not prepare has no account under any spelling.
        try:
            name = prep_localpart(self._username)
        except JIDError:
            name = self._username
        return name.encode("utf-8")

    def _fake_salt(self, identity: bytes) -> bytes:
        # Deterministic per (secret, hash, account name): asking twice must not reveal that the user is unknown.
        message = _FAKE_SALT_LABEL + self.hash_name.encode() + b"\x00" + identity
        return hmac.new(self._server_secret, message, "sha256").digest()[:SALT_SIZE]

    def _fake_value(self, identity: bytes, label: bytes) -> bytes:
        message = _FAKE_KEY_LABEL + label + b"\x00" + identity
        return hmac.new(self._server_secret, message, self.hash_name).digest()


class SCRAMSHA1(SCRAMMechanism):
    """SCRAM-SHA-1 (RFC 5802)."""

    name = "SCRAM-SHA-1"
    hash_name = "sha1"
    plus = False


class SCRAMSHA1Plus(SCRAMMechanism):
    """SCRAM-SHA-1-PLUS (RFC 5802 section 6): SCRAM-SHA-1 with channel binding."""

    name = "SCRAM-SHA-1-PLUS"
    hash_name = "sha1"
    plus = True


class SCRAMSHA256(SCRAMMechanism):
    """SCRAM-SHA-256 (RFC 7677)."""

    name = "SCRAM-SHA-256"
    hash_name = "sha256"
    plus = False


class SCRAMSHA256Plus(SCRAMMechanism):
    """SCRAM-SHA-256-PLUS (RFC 7677 section 3): SCRAM-SHA-256 with channel binding."""

    name = "SCRAM-SHA-256-PLUS"
    hash_name = "sha256"
    plus = True


#: The SCRAM mechanism classes by name (read-only; ``xmppd.sasl.create_mechanism`` picks from it).
SCRAM_CLASSES: Final[Mapping[str, type[SCRAMMechanism]]] = {
    cls.name: cls for cls in (SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1)
}
