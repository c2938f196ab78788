"""Module tests run on the harness: a router, a host and in-memory storage, no sockets."""

from __future__ import annotations

from tests.helpers.harness import FakeSession
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_STANZAS


def condition(stanza: Element) -> str | None:
    """The defined condition of an error stanza, or None when it is not an error."""
    if stanza.attrs.get("type") != "error":
        return None
    error = stanza.find("error")
    assert error is not None
    return next(iter(error.find_all(ns=NS_STANZAS))).name


def only(session: FakeSession) -> Element:
    received = session.take()
    assert len(received) == 1, received
    return received[0]
