"""asyncio TCP transport: bytes between a socket and a connection handler, nothing about XMPP.

``Connection`` is the asyncio protocol. It hands received bytes to its handler, writes what the handler gives it
(coalesced: one ``transport.write`` per loop iteration however many stanzas were queued), upgrades to TLS when
asked (STARTTLS), reports back-pressure, and closes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Protocol, cast

log = logging.getLogger(__name__)


class Handler(Protocol):
    """What a ``Connection`` drives: the session on top of it."""

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> None: ...

    def connection_lost(self) -> None: ...

    def pull_output(self) -> bytes:
        """Everything to write now (called when the connection flushes)."""
        ...


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection."""

    __slots__ = (
        "_closed",
        "_flush_scheduled",
        "_handler_factory",
        "_reading_paused",
        "_upgrading",
        "handler",
        "max_send_buffer",
        "peer",
        "transport",
    )

    def __init__(self, handler_factory: Callable[[Connection], Handler], *, max_send_buffer: int) -> None:
        self._handler_factory = handler_factory
        self.handler: Handler | None = None
        self.transport: asyncio.Transport | None = None
        self.max_send_buffer = max_send_buffer
        self._flush_scheduled = False
        self._closed = False
        self._reading_paused = False
        self._upgrading = False
        self.peer: str = "?"

    # -- asyncio callbacks -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # COMPAT: uvloop's transports have the asyncio.Transport interface without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple) and peername:
            self.peer = str(peername[0])
        # High-water mark: asyncio calls pause_writing() when the kernel and its own buffer hold this much.
        transport.set_write_buffer_limits(high=min(self.max_send_buffer // 2, 1 << 20))
        self.handler = self._handler_factory(self)

    def data_received(self, data: bytes) -> None:
        if self.handler is not None and not self._closed:
            self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self.handler is not None and not self._closed:
            self.handler.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._upgrading:
            return  # the plaintext transport is replaced by the TLS one
        self._closed = True
        if self.handler is not None:
            handler, self.handler = self.handler, None
            handler.connection_lost()

    def pause_writing(self) -> None:
        # The client is not reading; the check in flush() bounds what we keep for it.
        pass

    def resume_writing(self) -> None:
        pass

    # -- the handler's interface -----------------------------------------------------------------------------

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        if self.transport is None:
            return None
        obj = self.transport.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    @property
    def closed(self) -> bool:
        return self._closed

    def schedule_flush(self) -> None:
        """Write the handler's output at the end of this loop iteration (write coalescing)."""
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the handler's output now."""
        self._flush_scheduled = False
        if self._closed or self.handler is None or self.transport is None or self._upgrading:
            return
        data = self.handler.pull_output()
        if data:
            self.transport.write(data)

    def send_buffer_size(self) -> int:
        """Bytes written but not yet taken by the peer."""
        if self.transport is None or self._closed:
            return 0
        return self.transport.get_write_buffer_size()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self._closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self._closed:
            self._reading_paused = False
            self.transport.resume_reading()

    async def start_tls(self, context: ssl.SSLContext, timeout: float = 30.0) -> ssl.SSLObject | None:
        """Flush, then upgrade this connection to TLS as the server (STARTTLS); returns the SSL object."""
        self.flush()
        if self.transport is None or self._closed:
            return None
        loop = asyncio.get_running_loop()
        self._upgrading = True
        try:
            new_transport = await loop.start_tls(
                self.transport, self, context, server_side=True, ssl_handshake_timeout=timeout
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.info("TLS handshake with %s failed: %s", self.peer, exc)
            self._upgrading = False
            self.abort()
            return None
        finally:
            self._upgrading = False
        if new_transport is None:
            self.abort()
            return None
        self.transport = new_transport
        self._reading_paused = False
        return self.ssl_object

    def close(self) -> None:
        """Flush what is queued and close."""
        if self._closed or self.transport is None:
            return
        self.flush()
        self._closed = True
        self.transport.close()

    def abort(self) -> None:
        """Close now, dropping whatever is not written."""
        if self.transport is not None:
            self.transport.abort()
        self._closed = True
