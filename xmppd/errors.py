"""The error values every layer raises.

Each error carries the condition the specification names for it, so whoever catches it can render the right
element: a ``StanzaError`` becomes an error reply (RFC 6120 section 8.3), a ``StreamError`` closes the stream with
a stream error (RFC 6120 section 4.9), a ``SASLFailure`` becomes a ``<failure/>`` (RFC 6120 section 6.5).

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

from typing import Final, Literal

ErrorType = Literal["auth", "cancel", "continue", "modify", "wait"]

#: RFC 6120 section 8.3.3: each defined condition and the error type it usually goes with.
STANZA_CONDITIONS: Final[dict[str, ErrorType]] = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}

#: RFC 6120 section 4.9.3: the defined stream error conditions.
STREAM_CONDITIONS: Final[frozenset[str]] = frozenset(
    {
        "bad-format",
        "bad-namespace-prefix",
        "conflict",
        "connection-timeout",
        "host-gone",
        "host-unknown",
        "improper-addressing",
        "internal-server-error",
        "invalid-from",
        "invalid-namespace",
        "invalid-xml",
        "not-authorized",
        "not-well-formed",
        "policy-violation",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "restricted-xml",
        "see-other-host",
        "system-shutdown",
        "undefined-condition",
        "unsupported-encoding",
        "unsupported-feature",
        "unsupported-stanza-type",
        "unsupported-version",
    }
)

#: RFC 6120 section 6.5: the defined SASL failure conditions.
SASL_CONDITIONS: Final[frozenset[str]] = frozenset(
    {
        "aborted",
        "account-disabled",
        "credentials-expired",
        "encryption-required",
        "incorrect-encoding",
        "invalid-authzid",
        "invalid-mechanism",
        "malformed-request",
        "mechanism-too-weak",
        "not-authorized",
        "temporary-auth-failure",
    }
)


class XMPPError(Exception):
    """Base of every protocol error that carries a defined condition."""

    condition: str
    text: str | None

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


class StanzaError(XMPPError):
    """An error answered with an error stanza (RFC 6120 section 8.3).

    ``type`` defaults to the one RFC 6120 section 8.3.3 gives the condition. ``app`` names an
    application-specific condition element as ``(namespace, name)`` (RFC 6120 section 8.3.2), such as XEP-0191's
    ``("urn:xmpp:blocking:errors", "blocked")``.
    """

    type: ErrorType
    app: tuple[str, str] | None

    def __init__(
        self,
        condition: str,
        text: str | None = None,
        *,
        type: ErrorType | None = None,
        app: tuple[str, str] | None = None,
    ) -> None:
        if condition not in STANZA_CONDITIONS:
            raise ValueError(f"not a stanza error condition: {condition!r}")
        super().__init__(condition, text)
        self.type = type if type is not None else STANZA_CONDITIONS[condition]
        self.app = app


class StreamError(XMPPError):
    """A stream-level error: the stream is closed with ``<stream:error/>`` (RFC 6120 section 4.9)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        if condition not in STREAM_CONDITIONS:
            raise ValueError(f"not a stream error condition: {condition!r}")
        super().__init__(condition, text)


class SASLFailure(XMPPError):  # noqa: N818 (RFC 6120 calls it a failure, not an error)
    """An authentication failure (RFC 6120 section 6.5); the stream stays open."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        if condition not in SASL_CONDITIONS:
            raise ValueError(f"not a SASL failure condition: {condition!r}")
        super().__init__(condition, text)


class JIDError(ValueError):
    """An address that is not a valid JID per RFC 7622 (rendered as jid-malformed)."""


class StorageError(Exception):
    """A storage backend failed (connection lost, constraint violated, ...)."""


class ConfigError(Exception):
    """A configuration problem; ``problems`` lists every one with the key it concerns."""

    problems: list[str]

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
