"""RFC 6121 Appendix A (and section 3): every row of the subscription state tables, over the pure functions.

The rows are written out here again, as the RFC prints them, rather than read from ``states``: a typo in one of
the module's tables then shows up as a failing row.
"""

from __future__ import annotations

from typing import Literal

import pytest

from xmppd.modules.presence.states import (
    INBOUND,
    OUTBOUND,
    PRE_APPROVABLE,
    SUBSCRIPTION_TYPES,
    State,
    SubscriptionType,
    Transition,
    inbound,
    outbound,
    subscription_type,
)

N, NPO, NPI, NPOI = State.NONE, State.NONE_PENDING_OUT, State.NONE_PENDING_IN, State.NONE_PENDING_OUT_IN
TO, TPI, FROM, FPO, BOTH = State.TO, State.TO_PENDING_IN, State.FROM, State.FROM_PENDING_OUT, State.BOTH

Row = tuple[SubscriptionType, State, bool, State]

# Appendix A.2: (stanza type, existing state, route?, new state)
A2: list[Row] = [
    # A.2.1 subscribe
    ("subscribe", N, True, NPO),
    ("subscribe", NPO, True, NPO),
    ("subscribe", NPI, True, NPOI),
    ("subscribe", NPOI, True, NPOI),
    ("subscribe", TO, True, TO),
    ("subscribe", TPI, True, TPI),
    ("subscribe", FROM, True, FPO),
    ("subscribe", FPO, True, FPO),
    ("subscribe", BOTH, True, BOTH),
    # A.2.2 unsubscribe
    ("unsubscribe", N, True, N),
    ("unsubscribe", NPO, True, N),
    ("unsubscribe", NPI, True, NPI),
    ("unsubscribe", NPOI, True, NPI),
    ("unsubscribe", TO, True, N),
    ("unsubscribe", TPI, True, NPI),
    ("unsubscribe", FROM, True, FROM),
    ("unsubscribe", FPO, True, FROM),
    ("unsubscribe", BOTH, True, FROM),
    # A.2.3 subscribed
    ("subscribed", N, False, N),
    ("subscribed", NPO, False, NPO),
    ("subscribed", NPI, True, FROM),
    ("subscribed", NPOI, True, FPO),
    ("subscribed", TO, False, TO),
    ("subscribed", TPI, True, BOTH),
    ("subscribed", FROM, False, FROM),
    ("subscribed", FPO, False, FPO),
    ("subscribed", BOTH, False, BOTH),
    # A.2.4 unsubscribed
    ("unsubscribed", N, False, N),
    ("unsubscribed", NPO, False, NPO),
    ("unsubscribed", NPI, True, N),
    ("unsubscribed", NPOI, True, NPO),
    ("unsubscribed", TO, False, TO),
    ("unsubscribed", TPI, True, TO),
    ("unsubscribed", FROM, True, N),
    ("unsubscribed", FPO, True, NPO),
    ("unsubscribed", BOTH, True, TO),
]

# Appendix A.3: (stanza type, existing state, deliver?, new state)
A3: list[Row] = [
    # A.3.1 subscribe
    ("subscribe", N, True, NPI),
    ("subscribe", NPO, True, NPOI),
    ("subscribe", NPI, False, NPI),
    ("subscribe", NPOI, False, NPOI),
    ("subscribe", TO, True, TPI),
    ("subscribe", TPI, False, TPI),
    ("subscribe", FROM, False, FROM),
    ("subscribe", FPO, False, FPO),
    ("subscribe", BOTH, False, BOTH),
    # A.3.2 unsubscribe
    ("unsubscribe", N, False, N),
    ("unsubscribe", NPO, False, NPO),
    ("unsubscribe", NPI, True, N),
    ("unsubscribe", NPOI, True, NPO),
    ("unsubscribe", TO, False, TO),
    ("unsubscribe", TPI, True, TO),
    ("unsubscribe", FROM, True, N),
    ("unsubscribe", FPO, True, NPO),
    ("unsubscribe", BOTH, True, TO),
    # A.3.3 subscribed
    ("subscribed", N, False, N),
    ("subscribed", NPO, True, TO),
    ("subscribed", NPI, False, NPI),
    ("subscribed", NPOI, True, TPI),
    ("subscribed", TO, False, TO),
    ("subscribed", TPI, False, TPI),
    ("subscribed", FROM, False, FROM),
    ("subscribed", FPO, True, BOTH),
    ("subscribed", BOTH, False, BOTH),
    # A.3.4 unsubscribed
    ("unsubscribed", N, False, N),
    ("unsubscribed", NPO, True, N),
    ("unsubscribed", NPI, False, NPI),
    ("unsubscribed", NPOI, True, NPI),
    ("unsubscribed", TO, True, N),
    ("unsubscribed", TPI, True, NPI),
    ("unsubscribed", FROM, False, FROM),
    ("unsubscribed", FPO, True, FROM),
    ("unsubscribed", BOTH, True, FROM),
]


def _id(row: Row) -> str:
    kind, state, forward, new = row
    return f"{kind}|{state.value}|{'yes' if forward else 'no'}|{new.value}"


def _presence(old: State, new: State) -> Literal["available", "unavailable"] | None:
    if new.subscription in ("from", "both") and old.subscription not in ("from", "both"):
        return "available"
    if old.subscription in ("from", "both") and new.subscription not in ("from", "both"):
        return "unavailable"
    return None


def test_the_nine_defined_states_of_a1() -> None:
    parts = {s: (s.subscription, s.pending_out, s.pending_in) for s in State}
    assert parts == {
        N: ("none", False, False),
        NPO: ("none", True, False),
        NPI: ("none", False, True),
        NPOI: ("none", True, True),
        TO: ("to", False, False),
        TPI: ("to", False, True),
        FROM: ("from", False, False),
        FPO: ("from", True, False),
        BOTH: ("both", False, False),
    }
    for state, (subscription, pending_out, pending_in) in parts.items():
        assert State.of(subscription, pending_out, pending_in) is state


@pytest.mark.parametrize(
    ("subscription", "pending_out", "pending_in", "state"),
    [
        ("to", True, False, TO),
        ("both", True, True, BOTH),
        ("from", False, True, FROM),
        ("to", True, True, TPI),
    ],
)
def test_flags_that_cannot_go_with_the_subscription_are_ignored(
    subscription: str, pending_out: bool, pending_in: bool, state: State
) -> None:
    assert State.of(subscription, pending_out, pending_in) is state  # type: ignore[arg-type]


def test_pre_approvable_states() -> None:
    # Section 3.4 rules 3 and 4: "To", "None", "None + Pending Out" (and no item at all: "None").
    assert {N, NPO, TO} == PRE_APPROVABLE


def test_tables_are_total() -> None:
    for table in (OUTBOUND, INBOUND):
        assert set(table) == set(SUBSCRIPTION_TYPES)
        for rows in table.values():
            assert set(rows) == set(State)
    assert len(A2) == len(A3) == 36


@pytest.mark.parametrize("row", A2, ids=_id)
def test_appendix_a2_outbound(row: Row) -> None:
    kind, state, route, new = row
    assert OUTBOUND[kind][state] == (route, new)
    if kind == "subscribed" and state in PRE_APPROVABLE:
        # Section 3.4: here "subscribed" is a pre-approval instead (tested below).
        return
    assert outbound(state, kind) == Transition(new, route, presence=_presence(state, new))


@pytest.mark.parametrize("row", A3, ids=_id)
def test_appendix_a3_inbound(row: Row) -> None:
    kind, state, deliver, new = row
    assert INBOUND[kind][state] == (deliver, new)
    reply: Literal["subscribed"] | None = None
    if kind == "subscribe" and state in (FROM, FPO, BOTH):
        reply = "subscribed"
    presence = "available" if reply else _presence(state, new)
    assert inbound(state, kind) == Transition(new, deliver, reply=reply, presence=presence)


# -- section 3.4: pre-approval ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [N, NPO, TO])
@pytest.mark.parametrize("approved", [False, True])
def test_subscribed_without_a_request_pre_approves(state: State, approved: bool) -> None:
    # Section 3.4 rules 3 and 4: "To", "None", "None + Pending Out": note the approval, MUST NOT route.
    assert outbound(state, "subscribed", approved) == Transition(state, forward=False, approved=True)


@pytest.mark.parametrize("state", [NPI, NPOI, TPI])
def test_subscribed_answering_a_request_is_an_approval(state: State) -> None:
    # Section 3.4 rule 2: handled as a normal subscription approval (section 3.1.5).
    new = OUTBOUND["subscribed"][state][1]
    assert outbound(state, "subscribed") == Transition(new, forward=True, presence="available")


@pytest.mark.parametrize("state", [FROM, FPO, BOTH])
def test_subscribed_to_a_subscribed_contact_is_ignored(state: State) -> None:
    # Section 3.4 rule 1: silently ignored.
    assert outbound(state, "subscribed", True) == Transition(state, forward=False)


@pytest.mark.parametrize("state", [N, NPO, TO])
def test_unsubscribed_cancels_a_pre_approval_without_routing(state: State) -> None:
    # Section 3.2.2: the pre-approval goes and the stanza is not routed.
    assert outbound(state, "unsubscribed", approved=True) == Transition(state, forward=False, approved=False)


@pytest.mark.parametrize(("state", "new"), [(N, FROM), (NPO, FPO), (TO, BOTH)])
def test_pre_approved_request_is_answered_on_the_users_behalf(state: State, new: State) -> None:
    # Section 3.1.3 rule 2 and section 3.4: "subscribed" back, the contact subscribed, the user's presence sent.
    expected = Transition(new, forward=False, approved=False, reply="subscribed", presence="available")
    assert inbound(state, "subscribe", approved=True) == expected


@pytest.mark.parametrize("kind", SUBSCRIPTION_TYPES)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_approval_flag_survives_only_where_it_means_something(kind: SubscriptionType, state: State) -> None:
    for result in (outbound(state, kind, True), inbound(state, kind, True)):
        if result.approved:
            assert result.state in PRE_APPROVABLE


@pytest.mark.parametrize(
    ("kind", "state", "new"), [("subscribe", TO, TO), ("unsubscribe", NPO, N), ("unsubscribe", TO, N)]
)
def test_other_stanzas_keep_a_pre_approval(kind: SubscriptionType, state: State, new: State) -> None:
    assert outbound(state, kind, approved=True).approved
    assert outbound(state, kind, approved=True).state is new


def test_a_pre_approval_is_kept_when_the_contact_answers_a_probe_with_unsubscribed() -> None:
    # Section 4.3.2 rule 1: an "unsubscribed" sent in answer to a probe MUST NOT cancel a pre-approval.
    assert inbound(TO, "unsubscribed", approved=True) == Transition(N, True, approved=True)


# -- the presence that follows (sections 3.1.5, 3.2.2, 3.3.3) ---------------------------------------------------


def test_approval_sends_the_users_presence() -> None:
    assert outbound(NPI, "subscribed").presence == "available"  # section 3.1.5
    assert outbound(TPI, "subscribed").presence == "available"


def test_cancellation_sends_unavailable_before_the_stanza() -> None:
    assert outbound(FROM, "unsubscribed").presence == "unavailable"  # section 3.2.2
    assert outbound(BOTH, "unsubscribed").presence == "unavailable"
    assert outbound(NPI, "unsubscribed").presence is None  # a denied request: nobody saw anything


def test_inbound_unsubscribe_sends_unavailable() -> None:
    assert inbound(FROM, "unsubscribe").presence == "unavailable"  # section 3.3.3
    assert inbound(BOTH, "unsubscribe").presence == "unavailable"
    assert inbound(NPI, "unsubscribe").presence is None


def test_subscription_type() -> None:
    assert [subscription_type(t) for t in SUBSCRIPTION_TYPES] == list(SUBSCRIPTION_TYPES)
    assert subscription_type(None) is None
    assert subscription_type("probe") is None
    assert subscription_type("unavailable") is None
