"""docs/routing.md is the contract of the router: every row of its tables has a test named after it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_routing_row_has_a_test() -> None:
    rows = re.findall(r"^\| (R\d+) \|", (ROOT / "docs" / "routing.md").read_text(), flags=re.MULTILINE)
    assert len(rows) == len(set(rows)) and len(rows) >= 30
    tested = set()
    for path in (ROOT / "tests" / "unit").rglob("test_*.py"):
        tested.update(
            f"R{n}" for n in re.findall(r"^(?:async )?def test_r(\d+)_", path.read_text(), re.MULTILINE)
        )
    assert [row for row in rows if row not in tested] == []
    assert sorted(tested - set(rows)) == []
