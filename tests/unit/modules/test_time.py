"""XEP-0202: entity time in XEP-0082 form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.helpers.harness import Harness
from tests.unit.modules.conftest import only
from xmppd.xml.ns import NS_TIME


async def test_time_answer() -> None:
    harness = await Harness.create(modules=("time",))
    try:
        alice = harness.bind("alice@localhost/a")
        await harness.route("<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>", alice)
        result = only(alice)
        time = result.find("time", NS_TIME)
        assert result.attrs["type"] == "result" and time is not None
        utc = time.child_text("utc", NS_TIME)
        tzo = time.child_text("tzo", NS_TIME)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc)
        assert re.fullmatch(r"(Z|[+-]\d\d:\d\d)", tzo)
        stamp = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5
    finally:
        await harness.close()
