"""XEP-0202: Entity Time.

Answers for the server's domain with the server's UTC time and its offset.
"""

from __future__ import annotations

from datetime import UTC, datetime

from xmppd.modules.api import IqRequest, Module, Spec, iq_handler
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_TIME


class Time(Module):
    name = "time"
    spec = Spec("XEP-0202", version="2.0")
    features = (NS_TIME,)

    @iq_handler("get", NS_TIME, "time")
    async def time(self, request: IqRequest) -> Element:
        """XEP-0202 section 3: <tzo/> and <utc/> (XEP-0082 date-time, UTC)."""
        now = datetime.now(UTC).astimezone()
        offset = now.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        result = Element("time", NS_TIME)
        result.add("tzo", text=f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
        # Whole seconds, as in XEP-0202's examples: fractions are optional (XEP-0082) and some clients reject them.
        result.add("utc", text=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return result
