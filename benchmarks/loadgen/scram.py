"""The client side of SASL SCRAM (RFC 5802, RFC 7677) and PLAIN (RFC 4616), with a SaltedPassword cache.

Real clients keep the SaltedPassword a server's salt and iteration count lead to, and so do we: without the
cache, PBKDF2 (4096 iterations and more) would be most of the generator's work in the login scenario. The cache
is keyed by a hash of (hash name, password, salt, iterations) and can be saved to and loaded from a JSON file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Final

#: Mechanism name -> hashlib name.
SCRAM_HASHES: Final[dict[str, str]] = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
MECHANISMS: Final = ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN")


class SaslError(Exception):
    """The SASL exchange went wrong: a malformed challenge, a wrong server signature, a failure."""


class ScramCache:
    """SaltedPassword values by (hash, password, salt, iterations); optionally kept in a JSON file."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}
        self._keys: dict[tuple[str, str, bytes, int], tuple[bytes, bytes, bytes]] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(hash_name: str, password: str, salt: bytes, iterations: int) -> str:
        material = b"\0".join((hash_name.encode(), password.encode(), salt, str(iterations).encode()))
        return hashlib.sha256(material).hexdigest()

    def salted_password(self, hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
        key = self._key(hash_name, password, salt, iterations)
        value = self._entries.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
        self._entries[key] = value
        self._dirty = True
        return value

    def keys(self, hash_name: str, password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes, bytes]:
        """(ClientKey, StoredKey, ServerKey) of RFC 5802 section 3, kept in memory alongside the cache."""
        memo_key = (hash_name, password, salt, iterations)
        keys = self._keys.get(memo_key)
        if keys is None:
            salted = self.salted_password(hash_name, password, salt, iterations)
            client_key = hmac.digest(salted, b"Client Key", hash_name)
            stored_key = hashlib.new(hash_name, client_key).digest()
            server_key = hmac.digest(salted, b"Server Key", hash_name)
            keys = self._keys[memo_key] = (client_key, stored_key, server_key)
        else:
            self.hits += 1
        return keys

    def export(self) -> dict[str, str]:
        """The entries, as JSON-ready strings."""
        return {key: base64.b64encode(value).decode() for key, value in self._entries.items()}

    def update(self, data: object) -> None:
        """Add entries from export() (or from a file written by save()); malformed entries are skipped."""
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            if isinstance(key, str) and isinstance(value, str) and key not in self._entries:
                try:
                    self._entries[key] = base64.b64decode(value, validate=True)
                except ValueError:
                    continue
                self._dirty = True

    def load(self, path: Path) -> None:
        """Add the entries of a file written by save(); a missing or unreadable file adds nothing."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        self.update(data)
        self._dirty = False

    def save(self, path: Path) -> None:
        """Write the cache (atomically: a temporary file renamed over the old one), if anything was added."""
        if not self._dirty:
            return
        data = self.export()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
        self._dirty = False


def _saslname(name: str) -> str:
    # RFC 5802 section 5.1: '=' and ',' are escaped in the username.
    return name.replace("=", "=3D").replace(",", "=2C")


def _parse_attributes(message: bytes) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.decode().split(","):
        if len(part) < 2 or part[1] != "=":
            raise SaslError(f"malformed SCRAM attribute {part!r}")
        attrs.setdefault(part[0], part[2:])
    return attrs


class ScramClient:
    """One SCRAM exchange, client side: first(), final(server_first), verify(server_final)."""

    def __init__(
        self,
        mechanism: str,
        username: str,
        password: str,
        cache: ScramCache | None = None,
        nonce: str | None = None,
    ) -> None:
        try:
            self.hash_name = SCRAM_HASHES[mechanism]
        except KeyError:
            raise SaslError(f"not a SCRAM mechanism: {mechanism}") from None
        self.username = username
        self.password = password
        self.cache = cache if cache is not None else ScramCache()
        self.nonce = nonce if nonce is not None else secrets.token_urlsafe(18)
        self.gs2_header = b"n,,"
        self.client_first_bare = f"n={_saslname(username)},r={self.nonce}".encode()
        self._server_signature: bytes | None = None

    @property
    def final_sent(self) -> bool:
        """Whether final() was called (the next server message is the server-final-message)."""
        return self._server_signature is not None

    def first(self) -> bytes:
        return self.gs2_header + self.client_first_bare

    def final(self, server_first: bytes) -> bytes:
        attrs = _parse_attributes(server_first)
        if "m" in attrs:
            raise SaslError("the server asks for a SCRAM extension")
        try:
            nonce, salt_b64, iterations_text = attrs["r"], attrs["s"], attrs["i"]
        except KeyError as missing:
            raise SaslError(f"server-first-message without {missing.args[0]}") from None
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise SaslError("the server nonce does not extend ours")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iterations_text)
        except ValueError:
            raise SaslError("malformed salt or iteration count") from None
        if iterations < 1:
            raise SaslError("iteration count below 1")
        digest = self.hash_name
        client_key, stored_key, server_key = self.cache.keys(digest, self.password, salt, iterations)
        without_proof = b"c=" + base64.b64encode(self.gs2_header) + b",r=" + nonce.encode()
        auth_message = self.client_first_bare + b"," + server_first + b"," + without_proof
        client_signature = hmac.digest(stored_key, auth_message, digest)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        self._server_signature = hmac.digest(server_key, auth_message, digest)
        return without_proof + b",p=" + base64.b64encode(proof)

    def verify(self, server_final: bytes) -> None:
        """Check the server's signature (raises SaslError when it is wrong, missing or an error)."""
        if self._server_signature is None:
            raise SaslError("server-final-message before server-first-message")
        attrs = _parse_attributes(server_final)
        if "e" in attrs:
            raise SaslError(f"server error {attrs['e']}")
        try:
            signature = base64.b64decode(attrs["v"], validate=True)
        except (KeyError, ValueError):
            raise SaslError("server-final-message without a valid verifier") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError("wrong server signature")


def plain_message(username: str, password: str) -> bytes:
    """RFC 4616: the PLAIN initial response (no authorization identity)."""
    return b"\0" + username.encode() + b"\0" + password.encode()
