"""The ``RosterStore`` contract, on every backend, read directly and through the cache of kept rosters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.storage.conftest import Backend
from xmppd.storage import Storage
from xmppd.storage.roster import PendingRequest, Roster, RosterChange, RosterItem

HOST = "example.org"
OTHER_HOST = "other.example"

ROMEO = RosterItem("romeo@example.net", name="Romeo", subscription="both", groups=("Friends",))
MERCUTIO = RosterItem("mercutio@example.com", subscription="from", approved=True)
BENVOLIO = RosterItem("benvolio@example.net", name="Ben", subscription="to", ask=True, groups=("A", "B"))

SUBSCRIBE = b"<presence from='nurse@example.com' to='juliet@example.org' type='subscribe'/>"

#: The users whose rosters the "kept" run keeps in memory (``xmppd.storage.roster_cache``).
KEPT = [(host, user) for host in (HOST, OTHER_HOST) for user in ("juliet", "juliet2", "romeo", "nobody")]


@pytest.fixture(params=["direct", "kept"])
async def storage(backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """An empty ``Storage`` on each backend in turn; in the "kept" run the users of ``KEPT`` have their rosters
    kept in memory, which must not change any answer."""
    async with await backend.open() as opened:
        if request.param == "kept":
            for host, user in KEPT:
                opened.roster_cache.keep(host, user)
        yield opened


# -- an empty roster -----------------------------------------------------------------------------------------


async def test_a_user_without_a_roster_has_an_empty_one_at_version_0(storage: Storage) -> None:
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(0, ())
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) is None
    assert await storage.roster.changes_since(HOST, "juliet", 0) == []
    assert await storage.roster.get_pending(HOST, "juliet") == []


async def test_removing_what_is_not_there_changes_nothing(storage: Storage) -> None:
    assert await storage.roster.remove_item(HOST, "juliet", ROMEO.jid) is None
    assert await storage.roster.remove_pending(HOST, "juliet", ROMEO.jid) is False
    await storage.roster.put_item(HOST, "juliet", MERCUTIO)
    assert await storage.roster.remove_item(HOST, "juliet", ROMEO.jid) is None
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(1, (MERCUTIO,))
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [RosterChange(MERCUTIO.jid, 1, MERCUTIO)]


# -- items ---------------------------------------------------------------------------------------------------


async def test_put_item_then_get_it(storage: Storage) -> None:
    assert await storage.roster.put_item(HOST, "juliet", ROMEO) == 1
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(1, (ROMEO,))


@pytest.mark.parametrize(
    "item",
    [
        RosterItem("a@example.net"),
        RosterItem("b@example.net", name="", subscription="none"),
        RosterItem("c@example.net", name='Ç\'est "moi" \U0001f600', subscription="to", ask=True),
        RosterItem("d@example.net", subscription="from", approved=True),
        RosterItem("e@example.net", subscription="both", ask=True, approved=True, groups=("g",)),
        RosterItem("example.net"),  # a server or a gateway can be a contact
        RosterItem("f@example.net", name="x" * 2000, groups=tuple(sorted(f"group {n}" for n in range(50)))),
    ],
    ids=["defaults", "empty-name", "unicode-name", "approved", "everything", "domain", "large"],
)
async def test_every_field_round_trips(storage: Storage, item: RosterItem) -> None:
    await storage.roster.put_item(HOST, "juliet", item)
    stored = await storage.roster.get_item(HOST, "juliet", item.jid)
    assert stored == item
    # An empty name stays empty: it is not the same as no name.
    assert stored is not None and (stored.name is None) == (item.name is None)
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(1, (item,))


async def test_put_item_replaces_every_field(storage: Storage) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    changed = RosterItem(ROMEO.jid, name=None, subscription="to", ask=True, approved=True, groups=("Exiles",))
    assert await storage.roster.put_item(HOST, "juliet", changed) == 2
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == changed
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, (changed,))
    bare = RosterItem(ROMEO.jid)
    assert await storage.roster.put_item(HOST, "juliet", bare) == 3
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == bare


async def test_groups_come_back_sorted_by_code_point_without_duplicates(storage: Storage) -> None:
    # Sorted by code point, not by a collation: "B" before "a", "Z" before "ä", "10" before "9".
    groups = (
        "a",
        "Friends",
        "B",
        "ärger",
        "Z",
        "Friends",
        "9",
        "10",
        "a",
        "",
        '"quoted"',
        "[]",
        "back\\slash",
    )
    item = RosterItem(ROMEO.jid, groups=groups)
    expected = RosterItem(ROMEO.jid, groups=tuple(sorted(set(groups))))
    assert expected.groups[:4] == ("", '"quoted"', "10", "9")

    version = await storage.roster.put_item(HOST, "juliet", item)
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == expected
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(version, (expected,))
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [
        RosterChange(ROMEO.jid, version, expected)
    ]

    # And replacing the groups replaces them all.
    await storage.roster.put_item(HOST, "juliet", RosterItem(ROMEO.jid, groups=("Z", "Z")))
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == RosterItem(ROMEO.jid, groups=("Z",))
    await storage.roster.put_item(HOST, "juliet", RosterItem(ROMEO.jid))
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == RosterItem(ROMEO.jid)


async def test_the_roster_is_sorted_by_jid_code_point(storage: Storage) -> None:
    jids = ["romeo@example.net", "Zed@example.net", "\u00e4rger@example.net", "a@b", "10@x", "9@x", "a.b@x"]
    for jid in jids:
        await storage.roster.put_item(HOST, "juliet", RosterItem(jid))
    roster = await storage.roster.get_roster(HOST, "juliet")
    assert roster == Roster(len(jids), tuple(RosterItem(jid) for jid in sorted(jids)))


async def test_remove_item_leaves_it_out_of_the_roster(storage: Storage) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.put_item(HOST, "juliet", MERCUTIO)
    assert await storage.roster.remove_item(HOST, "juliet", ROMEO.jid) == 3

    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) is None
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(3, (MERCUTIO,))
    # Removing it again finds nothing: no new version.
    assert await storage.roster.remove_item(HOST, "juliet", ROMEO.jid) is None
    assert (await storage.roster.get_roster(HOST, "juliet")).version == 3

    assert await storage.roster.remove_item(HOST, "juliet", MERCUTIO.jid) == 4
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(4, ())


async def test_a_removed_jid_can_be_added_again(storage: Storage) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.remove_item(HOST, "juliet", ROMEO.jid)
    again = RosterItem(ROMEO.jid, name="Romeo again", groups=("Montague",))
    assert await storage.roster.put_item(HOST, "juliet", again) == 3

    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == again
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(3, (again,))
    # One entry for the JID, its latest change: the item, not the tombstone.
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [RosterChange(ROMEO.jid, 3, again)]
    assert await storage.roster.changes_since(HOST, "juliet", 1) == [RosterChange(ROMEO.jid, 3, again)]
    assert await storage.roster.changes_since(HOST, "juliet", 2) == [RosterChange(ROMEO.jid, 3, again)]
    # And it can be removed again.
    assert await storage.roster.remove_item(HOST, "juliet", ROMEO.jid) == 4
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [RosterChange(ROMEO.jid, 4, None)]


# -- versions ------------------------------------------------------------------------------------------------


async def test_every_change_increases_the_version_by_one(storage: Storage) -> None:
    steps = [
        storage.roster.put_item(HOST, "juliet", ROMEO),
        storage.roster.put_item(HOST, "juliet", MERCUTIO),
        storage.roster.put_item(HOST, "juliet", ROMEO),  # unchanged, but written: still a change
        storage.roster.remove_item(HOST, "juliet", MERCUTIO.jid),
        storage.roster.put_item(HOST, "juliet", BENVOLIO),
        storage.roster.remove_item(HOST, "juliet", ROMEO.jid),
        storage.roster.put_item(HOST, "juliet", MERCUTIO),
    ]
    for expected, step in enumerate(steps, start=1):
        assert await step == expected
        assert (await storage.roster.get_roster(HOST, "juliet")).version == expected


async def test_pending_requests_do_not_change_the_version(storage: Storage) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE)
    await storage.roster.remove_pending(HOST, "juliet", "nurse@example.com")
    assert (await storage.roster.get_roster(HOST, "juliet")).version == 1
    assert await storage.roster.changes_since(HOST, "juliet", 1) == []


async def test_changes_since_gives_each_jid_once_with_its_latest_change_in_version_order(
    storage: Storage,
) -> None:
    romeo2 = RosterItem(ROMEO.jid, name="R", subscription="to")
    await storage.roster.put_item(HOST, "juliet", ROMEO)  # 1
    await storage.roster.put_item(HOST, "juliet", MERCUTIO)  # 2
    await storage.roster.put_item(HOST, "juliet", BENVOLIO)  # 3
    await storage.roster.remove_item(HOST, "juliet", MERCUTIO.jid)  # 4
    await storage.roster.put_item(HOST, "juliet", romeo2)  # 5
    await storage.roster.remove_item(HOST, "juliet", BENVOLIO.jid)  # 6
    await storage.roster.put_item(HOST, "juliet", BENVOLIO)  # 7

    everything = [
        RosterChange(MERCUTIO.jid, 4, None),
        RosterChange(ROMEO.jid, 5, romeo2),
        RosterChange(BENVOLIO.jid, 7, BENVOLIO),
    ]
    assert await storage.roster.changes_since(HOST, "juliet", 0) == everything
    assert await storage.roster.changes_since(HOST, "juliet", 3) == everything
    assert await storage.roster.changes_since(HOST, "juliet", 4) == everything[1:]
    assert await storage.roster.changes_since(HOST, "juliet", 5) == everything[2:]
    assert await storage.roster.changes_since(HOST, "juliet", 6) == everything[2:]
    assert await storage.roster.changes_since(HOST, "juliet", 7) == []


async def test_changes_since_a_version_the_roster_never_had_is_none(storage: Storage) -> None:
    assert await storage.roster.changes_since(HOST, "juliet", 1) is None
    assert await storage.roster.changes_since(HOST, "juliet", -1) is None
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.put_item(HOST, "juliet", MERCUTIO)
    assert await storage.roster.changes_since(HOST, "juliet", 3) is None
    assert await storage.roster.changes_since(HOST, "juliet", 2**40) is None
    assert await storage.roster.changes_since(HOST, "juliet", 2**63) is None  # past any BIGINT
    assert await storage.roster.changes_since(HOST, "juliet", 2**100) is None
    assert await storage.roster.changes_since(HOST, "juliet", -1) is None
    assert await storage.roster.changes_since(HOST, "juliet", -(2**40)) is None
    assert await storage.roster.changes_since(HOST, "juliet", -(2**100)) is None
    assert await storage.roster.changes_since(HOST, "juliet", 2) == []


async def test_a_roster_whose_items_were_all_removed_keeps_its_version_and_tombstones(
    storage: Storage,
) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.remove_item(HOST, "juliet", ROMEO.jid)
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, ())
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [RosterChange(ROMEO.jid, 2, None)]
    assert await storage.roster.changes_since(HOST, "juliet", 2) == []
    assert await storage.roster.changes_since(HOST, "juliet", 3) is None


async def test_concurrent_writers_never_share_a_version(storage: Storage) -> None:
    jids = [f"contact{n}@example.net" for n in range(20)]
    for jid in jids[:10]:
        await storage.roster.put_item(HOST, "juliet", RosterItem(jid))
    # Puts of new and existing JIDs, and removals, all at once.
    results = await asyncio.gather(
        *(storage.roster.put_item(HOST, "juliet", RosterItem(jid, name="new")) for jid in jids[5:]),
        *(storage.roster.remove_item(HOST, "juliet", jid) for jid in jids[:5]),
    )
    assert sorted(v for v in results if v is not None) == list(range(11, 31))

    roster = await storage.roster.get_roster(HOST, "juliet")
    assert roster == Roster(30, tuple(RosterItem(jid, name="new") for jid in sorted(jids[5:])))
    changes = await storage.roster.changes_since(HOST, "juliet", 10)
    assert changes is not None
    assert sorted(change.version for change in changes) == list(range(11, 31))
    assert {change.jid: change.item for change in changes} == {
        **{jid: None for jid in jids[:5]},
        **{jid: RosterItem(jid, name="new") for jid in jids[5:]},
    }


async def test_concurrent_removals_of_one_item_remove_it_once(storage: Storage) -> None:
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    results = await asyncio.gather(*(storage.roster.remove_item(HOST, "juliet", ROMEO.jid) for _ in range(8)))
    assert sorted(results, key=lambda v: v or 0) == [None] * 7 + [2]
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, ())


async def test_writers_on_separate_connections_never_share_a_version(sql_backend: Backend) -> None:
    # Two storages on one database stand for two server processes (or cluster nodes).
    async with await sql_backend.open() as first, await sql_backend.open() as second:
        results = await asyncio.gather(
            *(
                store.roster.put_item(HOST, "juliet", RosterItem(f"c{n}@example.net"))
                for n in range(12)
                for store in (first, second)
            )
        )
        assert sorted(results) == list(range(1, 25))
        assert (await second.roster.get_roster(HOST, "juliet")).version == 24
        assert len((await first.roster.get_roster(HOST, "juliet")).items) == 12


# -- pending subscription requests ---------------------------------------------------------------------------


async def test_pending_requests_come_oldest_first(storage: Storage) -> None:
    # The order of arrival, not of JIDs.
    arrivals = ["nurse@example.com", "benvolio@example.net", "tybalt@example.com", "Apothecary@example.org"]
    for jid in arrivals:
        assert await storage.roster.add_pending(HOST, "juliet", jid, f"<presence from='{jid}'/>".encode())
    assert await storage.roster.get_pending(HOST, "juliet") == [
        PendingRequest(jid, f"<presence from='{jid}'/>".encode()) for jid in arrivals
    ]


async def test_a_second_request_from_the_same_jid_is_refused(storage: Storage) -> None:
    assert await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE) is True
    assert await storage.roster.add_pending(HOST, "juliet", "tybalt@example.com", b"<presence/>") is True
    assert await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", b"<other/>") is False
    # Nothing changed: not the stanza, not the order.
    assert await storage.roster.get_pending(HOST, "juliet") == [
        PendingRequest("nurse@example.com", SUBSCRIBE),
        PendingRequest("tybalt@example.com", b"<presence/>"),
    ]


async def test_concurrent_requests_from_one_jid_are_kept_once(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.roster.add_pending(HOST, "juliet", "nurse@example.com", b"%d" % n) for n in range(8))
    )
    assert results.count(True) == 1
    [pending] = await storage.roster.get_pending(HOST, "juliet")
    assert pending.jid == "nurse@example.com" and pending.stanza == b"%d" % results.index(True)


async def test_remove_pending(storage: Storage) -> None:
    for jid in ("a@example.com", "b@example.com", "c@example.com"):
        await storage.roster.add_pending(HOST, "juliet", jid, jid.encode())
    assert await storage.roster.remove_pending(HOST, "juliet", "b@example.com") is True
    assert await storage.roster.remove_pending(HOST, "juliet", "b@example.com") is False
    assert await storage.roster.get_pending(HOST, "juliet") == [
        PendingRequest("a@example.com", b"a@example.com"),
        PendingRequest("c@example.com", b"c@example.com"),
    ]
    # Asked again after the answer: a new request, now the newest.
    assert await storage.roster.add_pending(HOST, "juliet", "b@example.com", b"again") is True
    assert await storage.roster.add_pending(HOST, "juliet", "a@example.com", b"dup") is False
    assert [p.jid for p in await storage.roster.get_pending(HOST, "juliet")] == [
        "a@example.com",
        "c@example.com",
        "b@example.com",
    ]


async def test_pending_requests_are_kept_apart_from_the_items(storage: Storage) -> None:
    # RFC 6121 section 3.1.3: a request is kept whether or not the contact is in the roster.
    await storage.roster.add_pending(HOST, "juliet", ROMEO.jid, SUBSCRIBE)
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) is None
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.remove_item(HOST, "juliet", ROMEO.jid)
    assert await storage.roster.get_pending(HOST, "juliet") == [PendingRequest(ROMEO.jid, SUBSCRIBE)]
    assert await storage.roster.remove_pending(HOST, "juliet", ROMEO.jid) is True
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, ())


async def test_pending_stanzas_are_bytes_kept_exactly(storage: Storage) -> None:
    stanza = bytes(range(256)) + "<status>\u00e7a va \U0001f600</status>".encode()
    source = bytearray(stanza)
    await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", source)  # type: ignore[arg-type]
    source[:] = b"changed"
    [pending] = await storage.roster.get_pending(HOST, "juliet")
    assert type(pending.stanza) is bytes and pending.stanza == stanza


# -- isolation, deletion, durability -------------------------------------------------------------------------


@pytest.mark.parametrize("other", [(OTHER_HOST, "juliet"), (HOST, "romeo"), (HOST, "juliet2")])
async def test_rosters_are_isolated_by_host_and_user(storage: Storage, other: tuple[str, str]) -> None:
    host, user = other
    await storage.roster.put_item(HOST, "juliet", ROMEO)
    await storage.roster.put_item(HOST, "juliet", MERCUTIO)
    await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", SUBSCRIBE)
    # The other user's versions start from 1 on their own.
    assert await storage.roster.put_item(host, user, BENVOLIO) == 1
    assert await storage.roster.put_item(host, user, ROMEO) == 2
    assert await storage.roster.remove_item(host, user, ROMEO.jid) == 3
    assert await storage.roster.add_pending(host, user, "nurse@example.com", b"theirs") is True

    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, (MERCUTIO, ROMEO))
    assert await storage.roster.get_roster(host, user) == Roster(3, (BENVOLIO,))
    assert await storage.roster.get_item(host, user, MERCUTIO.jid) is None
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) == ROMEO
    assert await storage.roster.changes_since(HOST, "juliet", 0) == [
        RosterChange(ROMEO.jid, 1, ROMEO),
        RosterChange(MERCUTIO.jid, 2, MERCUTIO),
    ]
    assert await storage.roster.changes_since(host, user, 1) == [
        RosterChange(ROMEO.jid, 3, None),
    ]
    assert await storage.roster.get_pending(HOST, "juliet") == [
        PendingRequest("nurse@example.com", SUBSCRIBE)
    ]
    assert await storage.roster.get_pending(host, user) == [PendingRequest("nurse@example.com", b"theirs")]

    assert await storage.roster.remove_item(host, user, MERCUTIO.jid) is None
    assert await storage.roster.remove_pending(host, user, "nurse@example.com") is True
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(2, (MERCUTIO, ROMEO))
    assert len(await storage.roster.get_pending(HOST, "juliet")) == 1


async def test_delete_user_removes_roster_tombstones_version_and_pending(storage: Storage) -> None:
    for host, user in ((HOST, "juliet"), (HOST, "romeo"), (OTHER_HOST, "juliet")):
        await storage.roster.put_item(host, user, ROMEO)
        await storage.roster.put_item(host, user, MERCUTIO)
        await storage.roster.remove_item(host, user, MERCUTIO.jid)
        await storage.roster.add_pending(host, user, "nurse@example.com", SUBSCRIBE)

    await storage.roster.delete_user(HOST, "juliet")

    assert await storage.roster.get_roster(HOST, "juliet") == Roster(0, ())
    assert await storage.roster.get_item(HOST, "juliet", ROMEO.jid) is None
    assert await storage.roster.changes_since(HOST, "juliet", 0) == []
    assert await storage.roster.changes_since(HOST, "juliet", 3) is None
    assert await storage.roster.get_pending(HOST, "juliet") == []
    for host, user in ((HOST, "romeo"), (OTHER_HOST, "juliet")):
        assert await storage.roster.get_roster(host, user) == Roster(3, (ROMEO,))
        assert await storage.roster.changes_since(host, user, 0) == [
            RosterChange(ROMEO.jid, 1, ROMEO),
            RosterChange(MERCUTIO.jid, 3, None),
        ]
        assert await storage.roster.get_pending(host, user) == [
            PendingRequest("nurse@example.com", SUBSCRIBE)
        ]

    # A new account of the same name starts afresh; deleting nothing is harmless.
    assert await storage.roster.put_item(HOST, "juliet", BENVOLIO) == 1
    assert await storage.roster.add_pending(HOST, "juliet", "nurse@example.com", b"new") is True
    await storage.roster.delete_user(HOST, "nobody")
    await storage.roster.delete_user(HOST, "juliet")
    await storage.roster.delete_user(HOST, "juliet")
    assert await storage.roster.get_roster(HOST, "juliet") == Roster(0, ())


async def test_unusual_names(storage: Storage) -> None:
    names = ("j\u00fcrgen", "\u4e2d\u6587", "emoji\U0001f600", "a'b\"c;--", "%_*", "x" * 1023)
    for name in names:
        await storage.roster.put_item(
            HOST, name, RosterItem(f"{name}@example.net", name=name, groups=(name,))
        )
        # A name that a LIKE pattern or a prefix match would confuse with it.
        await storage.roster.put_item(HOST, name + "x", ROMEO)
    for name in names:
        item = RosterItem(f"{name}@example.net", name=name, groups=(name,))
        assert await storage.roster.get_roster(HOST, name) == Roster(1, (item,))
        await storage.roster.delete_user(HOST, name)
        assert await storage.roster.get_roster(HOST, name + "x") == Roster(1, (ROMEO,))


async def test_writes_are_committed_when_they_return(sql_backend: Backend) -> None:
    async with await sql_backend.open() as first:
        await first.roster.put_item(HOST, "juliet", ROMEO)
        await first.roster.put_item(HOST, "juliet", MERCUTIO)
        await first.roster.put_item(HOST, "juliet", RosterItem(BENVOLIO.jid, groups=("b", "a", "b")))
        await first.roster.remove_item(HOST, "juliet", MERCUTIO.jid)
        for jid in ("z@example.com", "a@example.com", "m@example.com"):
            await first.roster.add_pending(HOST, "juliet", jid, jid.encode())
        await first.roster.remove_pending(HOST, "juliet", "a@example.com")

        async with await sql_backend.open() as second:
            benvolio = RosterItem(BENVOLIO.jid, groups=("a", "b"))
            assert await second.roster.get_roster(HOST, "juliet") == Roster(4, (benvolio, ROMEO))
            assert await second.roster.changes_since(HOST, "juliet", 1) == [
                RosterChange(BENVOLIO.jid, 3, benvolio),
                RosterChange(MERCUTIO.jid, 4, None),
            ]
            assert await second.roster.get_pending(HOST, "juliet") == [
                PendingRequest("z@example.com", b"z@example.com"),
                PendingRequest("m@example.com", b"m@example.com"),
            ]
            # The other process continues the same version sequence.
            assert await second.roster.put_item(HOST, "juliet", MERCUTIO) == 5
        assert await first.roster.remove_item(HOST, "juliet", ROMEO.jid) == 6

        await first.roster.delete_user(HOST, "juliet")
        async with await sql_backend.open() as second:
            assert await second.roster.get_roster(HOST, "juliet") == Roster(0, ())
            assert await second.roster.changes_since(HOST, "juliet", 0) == []
            assert await second.roster.get_pending(HOST, "juliet") == []
