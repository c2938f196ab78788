"""XEP-0092: software version, with the version number and operating system hideable."""

from __future__ import annotations

import pytest

from tests.helpers.harness import Harness
from tests.unit.modules.conftest import condition, only
from xmppd import __version__
from xmppd.modules.version import Version
from xmppd.xml.ns import NS_VERSION

QUERY = "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>"


@pytest.mark.parametrize(
    ("config", "version", "has_os"),
    [
        (Version.Config(), __version__, False),
        (Version.Config(show_os=True), __version__, True),
        (Version.Config(hide_version=True), "unknown", False),
    ],
)
async def test_version_answer(config: Version.Config, version: str, has_os: bool) -> None:
    harness = await Harness.create(modules=("version",), configs={"version": config})
    try:
        alice = harness.bind("alice@localhost/a")
        await harness.route(QUERY, alice)
        result = only(alice)
        query = result.find("query", NS_VERSION)
        assert result.attrs["type"] == "result" and query is not None
        assert query.child_text("name", NS_VERSION) == "xmppd"
        assert query.child_text("version", NS_VERSION) == version
        assert (query.find("os", NS_VERSION) is not None) is has_os
    finally:
        await harness.close()


async def test_set_is_not_handled() -> None:
    harness = await Harness.create(modules=("version",))
    try:
        alice = harness.bind("alice@localhost/a")
        await harness.route(QUERY.replace("type='get'", "type='set'"), alice)
        assert condition(only(alice)) == "service-unavailable"
    finally:
        await harness.close()
