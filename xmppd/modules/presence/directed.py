"""RFC 6121 section 4.6: who each resource sent directed presence to, so that they learn when it goes away.

A resource that sends available presence to an address its broadcast does not reach (not a contact subscribed
to the user) leaves a promise standing: that address sees the resource online until told otherwise. The server
keeps the list (section 4.6.3), forgets an address when the resource sends it directed unavailable presence,
and sends unavailable presence to every address left when the resource goes unavailable or away (4.5.2), which
empties the list. Kept in memory: a list never outlives the session that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from xmppd.jid import JID


class DirectedPresence:
    """Full JID of a resource -> the addresses it sent directed available presence to, in order."""

    __slots__ = ("_sent",)

    def __init__(self) -> None:
        self._sent: dict[JID, dict[JID, None]] = {}

    def available(self, resource: JID, target: JID) -> None:
        """``resource`` sent available presence to ``target``."""
        self._sent.setdefault(resource, {})[target] = None

    def unavailable(self, resource: JID, target: JID) -> None:
        """``resource`` sent unavailable presence to ``target``: that promise is kept (section 4.6.3)."""
        targets = self._sent.get(resource)
        if targets is not None:
            targets.pop(target, None)
            if not targets:
                del self._sent[resource]

    def targets(self, resource: JID) -> list[JID]:
        """Whom ``resource`` shows itself to by directed presence."""
        return list(self._sent.get(resource, ()))

    def pop(self, resource: JID) -> list[JID]:
        """Forget and return ``resource``'s list (it went unavailable or away)."""
        return list(self._sent.pop(resource, ()))

    def remove_matching(self, resource: JID, covers: Callable[[JID], bool]) -> list[JID]:
        """Forget and return the targets of ``resource`` for which ``covers`` is true."""
        targets = self._sent.get(resource)
        if not targets:
            return []
        gone = [target for target in targets if covers(target)]
        for target in gone:
            self.unavailable(resource, target)
        return gone

    def forget_account(self, bare: JID, keep: Collection[JID] = ()) -> None:
        """Drop the lists of every resource of ``bare`` but those in ``keep`` (the account is being deleted)."""
        for resource in [r for r in self._sent if r.bare() == bare and r not in keep]:
            del self._sent[resource]

    def __len__(self) -> int:
        return len(self._sent)
