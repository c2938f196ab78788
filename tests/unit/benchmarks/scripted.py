"""A base for the scripted in-process servers of the load generator's tests: bytes in a buffer, cut into
elements by ``take``, each answered by the subclass's ``step``."""

from __future__ import annotations

import asyncio


class ScriptedStream(asyncio.Protocol):
    """Feeds what arrives to ``step`` until it handles nothing more (an element not complete yet, say)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer and self.step():
            pass

    def take(self, end: bytes) -> bytes | None:
        """The buffer up to and including ``end``, removed from it; None while ``end`` has not arrived."""
        i = self.buffer.find(end)
        if i < 0:
            return None
        chunk, self.buffer = self.buffer[: i + len(end)], self.buffer[i + len(end) :]
        return chunk

    def step(self) -> bool:
        """Handle the element at the start of the buffer; False when there is none to handle yet."""
        raise NotImplementedError
