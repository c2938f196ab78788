"""A minimal SCRAM client for the tests, written from RFC 5802 section 3 without using ``xmppd.sasl``.

It builds the client-final message for any GS2 header and channel-binding data, so the tests can send a valid
proof with a binding the server should refuse, and it says what server-final message a correct server sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_attributes(message: str) -> dict[str, str]:
    """``a=x,b=y`` -> ``{"a": "x", "b": "y"}`` (values may contain "=", never ",")."""
    return dict(item.split("=", 1) for item in message.split(","))


@dataclass(frozen=True, slots=True)
class ClientFinal:
    """What the client sends last, and the server-final message it expects back."""

    message: str
    expected_server_final: str


def client_final(
    hash_name: str,
    password: str,
    *,
    client_first_bare: str,
    server_first: str,
    cbind_input: bytes,
    nonce: str | None = None,
) -> ClientFinal:
    """The client-final message answering ``server_first`` (RFC 5802 section 3).

    ``cbind_input`` is gs2-header plus the channel-binding data (RFC 5802 section 7, ``c=``); ``nonce`` replaces
    the nonce the server sent (to test a mismatch). ``password`` must be ASCII: no preparation is applied.
    """
    fields = parse_attributes(server_first)
    salted = hashlib.pbkdf2_hmac(
        hash_name, password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
    )
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    stored_key = hashlib.new(hash_name, client_key).digest()
    without_proof = f"c={b64(cbind_input)},r={fields['r'] if nonce is None else nonce}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(stored_key, auth_message, hash_name)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_key = hmac.digest(salted, b"Server Key", hash_name)
    server_signature = hmac.digest(server_key, auth_message, hash_name)
    return ClientFinal(f"{without_proof},p={b64(proof)}", f"v={b64(server_signature)}")
