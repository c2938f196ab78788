"""XEP-0092: Software Version.

Answers for the server's domain with the software name and version; the operating system only when configured.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from xmppd import __version__
from xmppd.modules.api import IqRequest, Module, Spec, iq_handler
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_VERSION


class Version(Module):
    name = "version"
    spec = Spec("XEP-0092", version="1.1")
    features = (NS_VERSION,)

    @dataclass(frozen=True, slots=True)
    class Config:
        show_os: bool = False
        """Include the operating system in the answer (off: it helps attackers more than users)."""
        hide_version: bool = False
        """Answer with the software name only, without its version number."""

    @iq_handler("get", NS_VERSION, "query")
    async def query(self, request: IqRequest) -> Element:
        """XEP-0092 section 3: name and version, optionally os."""
        result = Element("query", NS_VERSION)
        result.add("name", text="xmppd")
        # XEP-0092 requires <version/>; hiding it leaves it present but uninformative.
        result.add("version", text="unknown" if self.config.hide_version else __version__)
        if self.config.show_os:
            result.add("os", text=f"{platform.system()} {platform.release()}")
        return result
