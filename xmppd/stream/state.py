"""The c2s negotiation states and the table of what each state accepts.

Theory of operation (RFC 6120 sections 4 to 7, server side of a client stream):

- A stream starts in HEADER: nothing but a stream header is valid. The server answers with its own header and the
  features of the current phase (TLS, then SASL, then binding) and moves to NEGOTIATING.
- In NEGOTIATING the client picks a feature: ``<starttls/>`` (-> TLS_STARTING until the transport reports the
  handshake done, then HEADER again) or ``<auth/>`` (-> SASL_CHALLENGED after a challenge, SASL_WAITING while the
  server looks up credentials, back to NEGOTIATING on failure, HEADER on success: a stream restart).
- Where in-band registration is open (XEP-0077 section 3.1, over TLS only), NEGOTIATING before authentication
  also accepts a ``jabber:iq:register`` IQ (-> REGISTER_WAITING while the server looks into it, back to
  NEGOTIATING with its answer): the client registers an account, then authenticates with it.
- After SASL, NEGOTIATING offers resource binding; a bind request moves to BIND_WAITING until the server decides,
  then ESTABLISHED, where stanzas flow.
- CLOSED is final.

The table says which inputs each state accepts. An input not in the table is a protocol violation: before
authentication it is ``not-authorized`` (RFC 6120 section 4.9.3.12), later ``policy-violation``.
"""

from __future__ import annotations

import enum
from typing import Final


class C2SState(enum.Enum):
    HEADER = "header"
    NEGOTIATING = "negotiating"
    TLS_STARTING = "tls-starting"
    SASL_CHALLENGED = "sasl-challenged"
    SASL_WAITING = "sasl-waiting"
    REGISTER_WAITING = "register-waiting"
    BIND_WAITING = "bind-waiting"
    ESTABLISHED = "established"
    CLOSED = "closed"


class Input(enum.Enum):
    HEADER = "stream header"
    STARTTLS = "starttls"
    TLS_DONE = "tls established"
    AUTH = "auth"
    RESPONSE = "response"
    ABORT = "abort"
    CREDENTIALS = "credentials"
    REGISTER = "register"
    REGISTERED = "registration answered"
    BIND = "bind"
    BIND_DONE = "bind complete"
    STANZA = "stanza"
    CLOSE = "stream close"


S = C2SState

#: (state, input) -> the state after it, when the input is handled without error. Inputs whose outcome depends
#: on the result (SASL, binding) name their usual successor; the stream code moves on from there.
TRANSITIONS: Final[dict[tuple[C2SState, Input], C2SState]] = {
    (S.HEADER, Input.HEADER): S.NEGOTIATING,
    (S.NEGOTIATING, Input.STARTTLS): S.TLS_STARTING,
    (S.TLS_STARTING, Input.TLS_DONE): S.HEADER,
    (S.NEGOTIATING, Input.AUTH): S.SASL_CHALLENGED,
    (S.SASL_CHALLENGED, Input.RESPONSE): S.SASL_CHALLENGED,
    (S.SASL_CHALLENGED, Input.ABORT): S.NEGOTIATING,
    (S.SASL_WAITING, Input.CREDENTIALS): S.SASL_CHALLENGED,
    (S.NEGOTIATING, Input.REGISTER): S.REGISTER_WAITING,
    (S.REGISTER_WAITING, Input.REGISTERED): S.NEGOTIATING,
    (S.NEGOTIATING, Input.BIND): S.BIND_WAITING,
    (S.BIND_WAITING, Input.BIND_DONE): S.ESTABLISHED,
    (S.ESTABLISHED, Input.STANZA): S.ESTABLISHED,
    (S.NEGOTIATING, Input.CLOSE): S.CLOSED,
    (S.SASL_CHALLENGED, Input.CLOSE): S.CLOSED,
    (S.SASL_WAITING, Input.CLOSE): S.CLOSED,
    (S.REGISTER_WAITING, Input.CLOSE): S.CLOSED,
    (S.BIND_WAITING, Input.CLOSE): S.CLOSED,
    (S.ESTABLISHED, Input.CLOSE): S.CLOSED,
}


def accepts(state: C2SState, event: Input) -> bool:
    """Whether ``state`` accepts ``event`` at all."""
    return (state, event) in TRANSITIONS
