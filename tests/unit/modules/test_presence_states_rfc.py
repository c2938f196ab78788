"""RFC 6121 Appendix A, cell by cell, with the roster push and the pre-approval of section 3.4 added.

Every (direction, stanza type, existing state) cell is written out from the RFC, with what the user's server
does: routes (outbound, A.2) or delivers (inbound, A.3) the stanza, the new state, whether the user's
interested resources get a roster push, and the answer sent on the user's behalf. Each cell is checked twice:
on the pure functions of ``states``, and through the presence module with a remote contact, so that the
stored roster item, the kept request and the stanzas actually sent agree with the table.

A roster push goes out when the roster item changes (section 2.1.6): its 'subscription', its 'ask' (Pending
Out, sections 3.1.2 and 3.3.2) or its 'approved' flag (section 3.4). Pending In is not part of the roster
item (section 3.1.3: the request is kept apart until the user answers), so a cell that only adds or removes
Pending In pushes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import pytest

from tests.unit.modules.presence_helpers import ALICE, JULIET, World, make_world, presences, push, pushes
from xmppd.modules.presence.states import State, SubscriptionType, Transition, inbound, outbound

N, NPO, NPI, NPOI = State.NONE, State.NONE_PENDING_OUT, State.NONE_PENDING_IN, State.NONE_PENDING_OUT_IN
TO, TPI, FROM, FPO, BOTH = State.TO, State.TO_PENDING_IN, State.FROM, State.FROM_PENDING_OUT, State.BOTH

Direction = Literal["outbound", "inbound"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of Appendix A: the stanza, the state before it, and what the RFC says happens."""

    direction: Direction
    kind: SubscriptionType
    state: State
    forward: bool
    """A.2 "ROUTE?" or A.3 "DELIVER?"."""
    new: State
    push: bool
    reply: Literal["subscribed"] | None = None
    approved: bool = False
    """The user had pre-approved the contact (section 3.4) before the stanza."""
    approved_after: bool = False

    @property
    def name(self) -> str:
        pre = " (pre-approved)" if self.approved else ""
        return f"{self.direction} {self.kind} in {self.state.value}{pre}"


def _cells(
    direction: Direction, kind: SubscriptionType, *rows: tuple[State, bool, State, bool]
) -> list[Cell]:
    return [
        Cell(direction, kind, state, forward, new, roster_push) for state, forward, new, roster_push in rows
    ]


CELLS: list[Cell] = [
    # A.2: "the user's server MUST without exception route all outbound presence stanzas of type 'subscribe'
    # or 'unsubscribe' to the contact"; "subscribed" and "unsubscribed" are routed only when they change the
    # state. Columns: existing state, route?, new state, roster push?
    # A.2.1 subscribe (section 3.1.2: the push carries ask='subscribe').
    *_cells(
        "outbound",
        "subscribe",
        (N, True, NPO, True),
        (NPO, True, NPO, False),
        (NPI, True, NPOI, True),
        (NPOI, True, NPOI, False),
        (TO, True, TO, False),
        (TPI, True, TPI, False),
        (FROM, True, FPO, True),
        (FPO, True, FPO, False),
        (BOTH, True, BOTH, False),
    ),
    # A.2.2 unsubscribe (section 3.3.2).
    *_cells(
        "outbound",
        "unsubscribe",
        (N, True, N, False),
        (NPO, True, N, True),
        (NPI, True, NPI, False),
        (NPOI, True, NPI, True),
        (TO, True, N, True),
        (TPI, True, NPI, True),
        (FROM, True, FROM, False),
        (FPO, True, FROM, True),
        (BOTH, True, FROM, True),
    ),
    # A.2.3 subscribed. In "None", "None + Pending Out" and "To" the table says "no, no state change"; section
    # 3.4 (rules 3 and 4) makes it a pre-approval there: the flag is set and pushed, the stanza MUST NOT be
    # routed. In "From", "From + Pending Out" and "Both" section 3.4 rule 1 says to ignore it.
    Cell("outbound", "subscribed", N, False, N, True, approved_after=True),
    Cell("outbound", "subscribed", NPO, False, NPO, True, approved_after=True),
    *_cells("outbound", "subscribed", (NPI, True, FROM, True), (NPOI, True, FPO, True)),
    Cell("outbound", "subscribed", TO, False, TO, True, approved_after=True),
    *_cells(
        "outbound",
        "subscribed",
        (TPI, True, BOTH, True),
        (FROM, False, FROM, False),
        (FPO, False, FPO, False),
        (BOTH, False, BOTH, False),
    ),
    # A.2.4 unsubscribed. Denying a request ("Pending In" only) changes no roster item, so nothing is pushed;
    # cancelling the contact's subscription does (section 3.2.2).
    *_cells(
        "outbound",
        "unsubscribed",
        (N, False, N, False),
        (NPO, False, NPO, False),
        (NPI, True, N, False),
        (NPOI, True, NPO, False),
        (TO, False, TO, False),
        (TPI, True, TO, False),
        (FROM, True, N, True),
        (FPO, True, NPO, True),
        (BOTH, True, TO, True),
    ),
    # A.3: columns existing state, deliver?, new state, roster push?
    # A.3.1 subscribe. "From", "From + Pending Out", "Both": "no *", "Server SHOULD auto-reply with
    # 'subscribed'" (section 3.1.3 rule 2). A kept request changes no roster item: no push.
    *_cells(
        "inbound",
        "subscribe",
        (N, True, NPI, False),
        (NPO, True, NPOI, False),
        (NPI, False, NPI, False),
        (NPOI, False, NPOI, False),
        (TO, True, TPI, False),
        (TPI, False, TPI, False),
    ),
    *[
        Cell("inbound", "subscribe", state, False, state, False, reply="subscribed")
        for state in (FROM, FPO, BOTH)
    ],
    # A.3.2 unsubscribe (section 3.3.3 pushes when the contact loses its subscription).
    *_cells(
        "inbound",
        "unsubscribe",
        (N, False, N, False),
        (NPO, False, NPO, False),
        (NPI, True, N, False),
        (NPOI, True, NPO, False),
        (TO, False, TO, False),
        (TPI, True, TO, False),
        (FROM, True, N, True),
        (FPO, True, NPO, True),
        (BOTH, True, TO, True),
    ),
    # A.3.3 subscribed: only as the answer to the user's pending request (section 3.1.6).
    *_cells(
        "inbound",
        "subscribed",
        (N, False, N, False),
        (NPO, True, TO, True),
        (NPI, False, NPI, False),
        (NPOI, True, TPI, True),
        (TO, False, TO, False),
        (TPI, False, TPI, False),
        (FROM, False, FROM, False),
        (FPO, True, BOTH, True),
        (BOTH, False, BOTH, False),
    ),
    # A.3.4 unsubscribed: the contact denies the user's request or cancels the user's subscription (3.2.3).
    *_cells(
        "inbound",
        "unsubscribed",
        (N, False, N, False),
        (NPO, True, N, True),
        (NPI, False, NPI, False),
        (NPOI, True, NPI, True),
        (TO, True, N, True),
        (TPI, True, NPI, True),
        (FROM, False, FROM, False),
        (FPO, True, FROM, True),
        (BOTH, True, FROM, True),
    ),
]

# Section 3.4 on top of the tables, for the three states a pre-approval can exist in.
PRE_APPROVED_CELLS: list[Cell] = [
    # Section 3.1.3 rule 2: a pre-approved request is approved on the user's behalf ("subscribed" is sent from
    # the user's bare JID), not delivered, and the item becomes "from"/"both".
    Cell("inbound", "subscribe", N, False, FROM, True, "subscribed", approved=True),
    Cell("inbound", "subscribe", NPO, False, FPO, True, "subscribed", approved=True),
    Cell("inbound", "subscribe", TO, False, BOTH, True, "subscribed", approved=True),
    # "unsubscribed" to a pre-approved contact cancels the pre-approval (pushed) and, as A.2.4 says for these
    # states, is not routed.
    *[Cell("outbound", "unsubscribed", state, False, state, True, approved=True) for state in (N, NPO, TO)],
    # A second "subscribed" changes nothing.
    *[
        Cell("outbound", "subscribed", state, False, state, False, approved=True, approved_after=True)
        for state in (N, NPO, TO)
    ],
]

ALL_CELLS = CELLS + PRE_APPROVED_CELLS


def test_every_cell_of_appendix_a_is_written_out() -> None:
    keys = {(cell.direction, cell.kind, cell.state) for cell in CELLS}
    assert len(CELLS) == len(keys) == 2 * 4 * 9


def _roster_push(cell: Cell, transition: Transition) -> bool:
    """What the presence module pushes: the item's subscription, 'ask' or 'approved' changed."""
    before = (cell.state.subscription, cell.state.pending_out, cell.approved)
    return before != (transition.state.subscription, transition.state.pending_out, transition.approved)


@pytest.mark.parametrize("cell", ALL_CELLS, ids=lambda cell: cell.name)
def test_states_functions(cell: Cell) -> None:
    apply = outbound if cell.direction == "outbound" else inbound
    transition = apply(cell.state, cell.kind, cell.approved)
    assert (transition.forward, transition.state) == (cell.forward, cell.new)
    assert transition.reply == cell.reply
    assert transition.approved == cell.approved_after
    assert _roster_push(cell, transition) == cell.push


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with make_world() as created:
        yield created


def _subscription_stanzas(
    found: list[tuple[str | None, str | None, str | None]],
) -> list[tuple[str, str, str]]:
    kinds = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")
    return [(kind, sender or "", to or "") for kind, sender, to in found if kind in kinds]


@pytest.mark.parametrize("cell", ALL_CELLS, ids=lambda cell: cell.name)
async def test_presence_module(world: World, cell: Cell) -> None:
    """Alice and a remote contact in ``cell.state``; Alice has one interested, available resource."""
    state = cell.state
    if state.subscription != "none" or state.pending_out or cell.approved:
        await world.set_state(ALICE, JULIET, state.subscription, state.pending_out, cell.approved)
    if state.pending_in:
        request = f"<presence xmlns='jabber:client' type='subscribe' from='{JULIET}' to='{ALICE}'/>"
        assert await world.roster.add_pending("alice", JULIET, request.encode())
    alice = await world.online(f"{ALICE}/home")
    world.take_remote()

    if cell.direction == "outbound":
        await world.route(f"<presence type='{cell.kind}' to='{JULIET}'/>", alice)
    else:
        await world.route(f"<presence type='{cell.kind}' from='{JULIET}' to='{ALICE}'/>")
    received = alice.take()
    sent = _subscription_stanzas(world.take_remote())

    expected_sent = []
    if cell.direction == "outbound" and cell.forward:
        expected_sent.append((cell.kind, ALICE, JULIET))
    if cell.reply is not None:
        expected_sent.append((cell.reply, ALICE, JULIET))
    assert sent == expected_sent
    delivered = _subscription_stanzas(presences(received))
    assert delivered == ([(cell.kind, JULIET, ALICE)] if cell.direction == "inbound" and cell.forward else [])

    new = cell.new
    item = await world.item(ALICE, JULIET)
    stored = (item.subscription, item.ask, item.approved) if item is not None else ("none", False, False)
    assert stored == (new.subscription, new.pending_out, cell.approved_after)
    assert (JULIET in await world.pending(ALICE)) == new.pending_in
    expected_push = push(JULIET, new.subscription, new.pending_out, cell.approved_after)
    assert pushes(received) == ([expected_push] if cell.push else [])
