"""RFC 6121 section 3 and Appendix A: the presence subscription state machine, as tables.

Theory of operation
-------------------
Between a user and one contact there are two one-way subscriptions: the user to the contact's presence, and the
contact to the user's. The user's server keeps both from the user's side, as one of the nine defined states of
Appendix A.1 (``State``): ``subscription`` ("none", "to": the user sees the contact, "from": the contact sees
the user, "both"), "Pending Out" (the user asked the contact and has no answer: ``ask`` on the roster item) and
"Pending In" (the contact asked the user and has no answer: kept apart from the roster, section 3.1.3). A
contact with no roster item and no pending request is in "None".

A subscription stanza changes the state from either side, and each server applies it to its own user's state:

- ``outbound`` is Appendix A.2: the user sent ``subscribe``, ``subscribed``, ``unsubscribe`` or
  ``unsubscribed`` to the contact. The answer says whether the user's server routes the stanza on, and the new
  state.
- ``inbound`` is Appendix A.3: the contact sent one of them to the user. The answer says whether the user's
  server delivers it to the user, and the new state.

Both tables are total: every (state, type) pair has a row, and "no state change" is written as the same state.
A stanza that is neither routed nor delivered is silently ignored.

Two things live beside the tables and are applied on top of them:

- Pre-approval (section 3.4) is a flag, ``approved``, meaningful only while the contact has neither a
  subscription to the user nor a pending request (``PRE_APPROVABLE``: "None", "None + Pending Out", "To"). An
  outbound ``subscribed`` in those states sets it instead of being routed; an outbound ``unsubscribed`` clears
  it, again without routing; an inbound ``subscribe`` while it is set is approved on the user's behalf.
- The presence that follows a change (``Transition.presence``): when the contact gains a subscription to the
  user, the user's server sends the user's current presence to the contact (section 3.1.5); when the contact
  loses it, unavailable presence from each of the user's available resources (sections 3.2.2 and 3.3.3), which
  for an outbound ``unsubscribed`` goes before the stanza itself, while the contact is still subscribed.

Nothing here awaits or touches storage: ``xmppd.modules.presence`` reads the state, asks these functions, and
carries out the answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from xmppd.storage.roster import Subscription

SubscriptionType: TypeAlias = Literal["subscribe", "subscribed", "unsubscribe", "unsubscribed"]
"""The four subscription-related presence types (RFC 6121 section 4.7.1)."""

SUBSCRIPTION_TYPES: Final[tuple[SubscriptionType, ...]] = get_args(SubscriptionType)


class State(enum.Enum):
    """The nine defined subscription states of RFC 6121 Appendix A.1, named as the RFC names them."""

    NONE = "None"
    NONE_PENDING_OUT = "None + Pending Out"
    NONE_PENDING_IN = "None + Pending In"
    NONE_PENDING_OUT_IN = "None + Pending Out/In"
    TO = "To"
    TO_PENDING_IN = "To + Pending In"
    FROM = "From"
    FROM_PENDING_OUT = "From + Pending Out"
    BOTH = "Both"

    @classmethod
    def of(cls, subscription: Subscription, pending_out: bool, pending_in: bool) -> State:
        """The state of a stored subscription, its ``ask`` flag and whether a request from the contact is kept.

        A flag that cannot go with the subscription is ignored: a pending request from a contact that is
        subscribed already ("from", "both") or to a contact the user is subscribed to already ("to", "both")
        asks for nothing more.
        """
        pending_out = pending_out and subscription in ("none", "from")
        pending_in = pending_in and subscription in ("none", "to")
        return _BY_PARTS[(subscription, pending_out, pending_in)]

    @property
    def subscription(self) -> Subscription:
        """The roster item's 'subscription' attribute (Appendix A.1)."""
        return _PARTS[self][0]

    @property
    def pending_out(self) -> bool:
        """The user asked the contact and has no answer (``ask='subscribe'`` on the roster item)."""
        return _PARTS[self][1]

    @property
    def pending_in(self) -> bool:
        """The contact asked the user and has no answer."""
        return _PARTS[self][2]

    @property
    def contact_subscribed(self) -> bool:
        """The contact receives the user's presence ("from" or "both")."""
        return self.subscription in ("from", "both")

    @property
    def user_subscribed(self) -> bool:
        """The user receives the contact's presence ("to" or "both")."""
        return self.subscription in ("to", "both")


_PARTS: Final[dict[State, tuple[Subscription, bool, bool]]] = {
    # Appendix A.1: (subscription, Pending Out, Pending In)
    State.NONE: ("none", False, False),
    State.NONE_PENDING_OUT: ("none", True, False),
    State.NONE_PENDING_IN: ("none", False, True),
    State.NONE_PENDING_OUT_IN: ("none", True, True),
    State.TO: ("to", False, False),
    State.TO_PENDING_IN: ("to", False, True),
    State.FROM: ("from", False, False),
    State.FROM_PENDING_OUT: ("from", True, False),
    State.BOTH: ("both", False, False),
}
_BY_PARTS: Final = {parts: state for state, parts in _PARTS.items()}

PRE_APPROVABLE: Final[frozenset[State]] = frozenset({State.NONE, State.NONE_PENDING_OUT, State.TO})
"""Section 3.4: the states in which an outbound ``subscribed`` is a pre-approval (the contact has neither a
subscription to the user nor a pending request)."""

_S = State
# Appendix A.2, server processing of outbound presence subscription stanzas: state -> (route?, new state).
OUTBOUND: Final[dict[SubscriptionType, dict[State, tuple[bool, State]]]] = {
    # A.2.1 "subscribe": always routed (a repeated request lets the contact's server resynchronise).
    "subscribe": {
        _S.NONE: (True, _S.NONE_PENDING_OUT),
        _S.NONE_PENDING_OUT: (True, _S.NONE_PENDING_OUT),
        _S.NONE_PENDING_IN: (True, _S.NONE_PENDING_OUT_IN),
        _S.NONE_PENDING_OUT_IN: (True, _S.NONE_PENDING_OUT_IN),
        _S.TO: (True, _S.TO),
        _S.TO_PENDING_IN: (True, _S.TO_PENDING_IN),
        _S.FROM: (True, _S.FROM_PENDING_OUT),
        _S.FROM_PENDING_OUT: (True, _S.FROM_PENDING_OUT),
        _S.BOTH: (True, _S.BOTH),
    },
    # A.2.2 "unsubscribe": always routed.
    "unsubscribe": {
        _S.NONE: (True, _S.NONE),
        _S.NONE_PENDING_OUT: (True, _S.NONE),
        _S.NONE_PENDING_IN: (True, _S.NONE_PENDING_IN),
        _S.NONE_PENDING_OUT_IN: (True, _S.NONE_PENDING_IN),
        _S.TO: (True, _S.NONE),
        _S.TO_PENDING_IN: (True, _S.NONE_PENDING_IN),
        _S.FROM: (True, _S.FROM),
        _S.FROM_PENDING_OUT: (True, _S.FROM),
        _S.BOTH: (True, _S.FROM),
    },
    # A.2.3 "subscribed": routed only as the answer to a pending request.
    "subscribed": {
        _S.NONE: (False, _S.NONE),
        _S.NONE_PENDING_OUT: (False, _S.NONE_PENDING_OUT),
        _S.NONE_PENDING_IN: (True, _S.FROM),
        _S.NONE_PENDING_OUT_IN: (True, _S.FROM_PENDING_OUT),
        _S.TO: (False, _S.TO),
        _S.TO_PENDING_IN: (True, _S.BOTH),
        _S.FROM: (False, _S.FROM),
        _S.FROM_PENDING_OUT: (False, _S.FROM_PENDING_OUT),
        _S.BOTH: (False, _S.BOTH),
    },
    # A.2.4 "unsubscribed": routed when it denies a request or cancels the contact's subscription.
    "unsubscribed": {
        _S.NONE: (False, _S.NONE),
        _S.NONE_PENDING_OUT: (False, _S.NONE_PENDING_OUT),
        _S.NONE_PENDING_IN: (True, _S.NONE),
        _S.NONE_PENDING_OUT_IN: (True, _S.NONE_PENDING_OUT),
        _S.TO: (False, _S.TO),
        _S.TO_PENDING_IN: (True, _S.TO),
        _S.FROM: (True, _S.NONE),
        _S.FROM_PENDING_OUT: (True, _S.NONE_PENDING_OUT),
        _S.BOTH: (True, _S.TO),
    },
}

# Appendix A.3, server processing of inbound presence subscription stanzas: state -> (deliver?, new state).
INBOUND: Final[dict[SubscriptionType, dict[State, tuple[bool, State]]]] = {
    # A.3.1 "subscribe": a request already pending is not delivered again; a contact that is subscribed already
    # gets "subscribed" back on the user's behalf (AUTO_REPLY, section 3.1.3 rule 2).
    "subscribe": {
        _S.NONE: (True, _S.NONE_PENDING_IN),
        _S.NONE_PENDING_OUT: (True, _S.NONE_PENDING_OUT_IN),
        _S.NONE_PENDING_IN: (False, _S.NONE_PENDING_IN),
        _S.NONE_PENDING_OUT_IN: (False, _S.NONE_PENDING_OUT_IN),
        _S.TO: (True, _S.TO_PENDING_IN),
        _S.TO_PENDING_IN: (False, _S.TO_PENDING_IN),
        _S.FROM: (False, _S.FROM),
        _S.FROM_PENDING_OUT: (False, _S.FROM_PENDING_OUT),
        _S.BOTH: (False, _S.BOTH),
    },
    # A.3.2 "unsubscribe": the contact withdraws its request or ends its subscription to the user.
    "unsubscribe": {
        _S.NONE: (False, _S.NONE),
        _S.NONE_PENDING_OUT: (False, _S.NONE_PENDING_OUT),
        _S.NONE_PENDING_IN: (True, _S.NONE),
        _S.NONE_PENDING_OUT_IN: (True, _S.NONE_PENDING_OUT),
        _S.TO: (False, _S.TO),
        _S.TO_PENDING_IN: (True, _S.TO),
        _S.FROM: (True, _S.NONE),
        _S.FROM_PENDING_OUT: (True, _S.NONE_PENDING_OUT),
        _S.BOTH: (True, _S.TO),
    },
    # A.3.3 "subscribed": delivered only as the answer to the user's pending request.
    "subscribed": {
        _S.NONE: (False, _S.NONE),
        _S.NONE_PENDING_OUT: (True, _S.TO),
        _S.NONE_PENDING_IN: (False, _S.NONE_PENDING_IN),
        _S.NONE_PENDING_OUT_IN: (True, _S.TO_PENDING_IN),
        _S.TO: (False, _S.TO),
        _S.TO_PENDING_IN: (False, _S.TO_PENDING_IN),
        _S.FROM: (False, _S.FROM),
        _S.FROM_PENDING_OUT: (True, _S.BOTH),
        _S.BOTH: (False, _S.BOTH),
    },
    # A.3.4 "unsubscribed": the contact denies the user's request or cancels the user's subscription.
    "unsubscribed": {
        _S.NONE: (False, _S.NONE),
        _S.NONE_PENDING_OUT: (True, _S.NONE),
        _S.NONE_PENDING_IN: (False, _S.NONE_PENDING_IN),
        _S.NONE_PENDING_OUT_IN: (True, _S.NONE_PENDING_IN),
        _S.TO: (True, _S.NONE),
        _S.TO_PENDING_IN: (True, _S.NONE_PENDING_IN),
        _S.FROM: (False, _S.FROM),
        _S.FROM_PENDING_OUT: (True, _S.FROM),
        _S.BOTH: (True, _S.FROM),
    },
}

AUTO_REPLY: Final[frozenset[State]] = frozenset({State.FROM, State.FROM_PENDING_OUT, State.BOTH})
"""Appendix A.3.1, the rows marked "*": an inbound "subscribe" from a contact subscribed already is not
delivered but answered with "subscribed" on the user's behalf (section 3.1.3 rule 2: MUST)."""

# Section 3.4: an inbound "subscribe" that the user pre-approved is approved on the user's behalf, as if the
# user had sent "subscribed" in the state A.3.1 leads to.
_PRE_APPROVED: Final[dict[State, State]] = {
    State.NONE: State.FROM,
    State.NONE_PENDING_OUT: State.FROM_PENDING_OUT,
    State.TO: State.BOTH,
}


@dataclass(frozen=True, slots=True)
class Transition:
    """What the user's server does with one subscription stanza."""

    state: State
    """The new state (the same one for "no state change")."""
    forward: bool
    """Outbound: route the stanza to the contact. Inbound: deliver it to the user."""
    approved: bool = False
    """The pre-approval flag afterwards (section 3.4)."""
    reply: Literal["subscribed"] | None = None
    """Inbound: the answer the server sends the contact on the user's behalf, from the user's bare JID."""
    presence: Literal["available", "unavailable"] | None = None
    """The user's presence the server sends the contact: the current presence of each available resource when
    the contact gained a subscription (after the stanza), unavailable presence from each available resource when
    it lost one (before an outbound stanza, while the contact is still subscribed)."""


def _presence(old: State, new: State) -> Literal["available", "unavailable"] | None:
    if new.contact_subscribed and not old.contact_subscribed:
        return "available"  # section 3.1.5 (and 3.1.3 rule 2 with section 3.4)
    if old.contact_subscribed and not new.contact_subscribed:
        return "unavailable"  # sections 3.2.2 and 3.3.3
    return None


def outbound(state: State, presence_type: SubscriptionType, approved: bool = False) -> Transition:
    """Appendix A.2 (and section 3.4): the user sent ``presence_type`` to a contact in ``state``."""
    approved = approved and state in PRE_APPROVABLE
    if presence_type == "subscribed" and state in PRE_APPROVABLE:
        # Section 3.4, rules 3 and 4: note the pre-approval; MUST NOT route the stanza.
        return Transition(state, forward=False, approved=True)
    if presence_type == "unsubscribed" and approved:
        # Section 3.2.2: "unsubscribed" to a contact the user pre-approved removes the pre-approval, and the
        # stanza is not routed (the contact has nothing to be told).
        return Transition(state, forward=False, approved=False)
    forward, new = OUTBOUND[presence_type][state]
    return Transition(new, forward, approved and new in PRE_APPROVABLE, None, _presence(state, new))


def inbound(state: State, presence_type: SubscriptionType, approved: bool = False) -> Transition:
    """Appendix A.3 (and section 3.4): the contact, in ``state``, sent ``presence_type`` to the user."""
    approved = approved and state in PRE_APPROVABLE
    if presence_type == "subscribe":
        if state in AUTO_REPLY:
            # Section 3.1.3 rule 2: subscribed already. The current presence goes along: a contact that asks
            # again has evidently lost what it knew (not required by the RFC; Prosody does the same).
            return Transition(state, forward=False, reply="subscribed", presence="available")
        if approved:
            # Section 3.1.3 rule 2 and section 3.4: pre-approved, so approved now on the user's behalf.
            new = _PRE_APPROVED[state]
            return Transition(new, forward=False, reply="subscribed", presence=_presence(state, new))
    forward, new = INBOUND[presence_type][state]
    return Transition(new, forward, approved and new in PRE_APPROVABLE, None, _presence(state, new))


_TYPES: Final[dict[str, SubscriptionType]] = {name: name for name in SUBSCRIPTION_TYPES}


def subscription_type(value: str | None) -> SubscriptionType | None:
    """``value`` when it is one of the four subscription types, else None."""
    return _TYPES.get(value) if value is not None else None
