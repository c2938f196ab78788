"""Logging: readable one-line records on stderr, and a per-session logger that names its session."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup(level: str = "info") -> None:
    """Send xmppd's records at ``level`` and above to stderr, one line each.

    Other libraries log only their warnings and errors, even at ``debug``: aiosqlite, for one, logs every
    statement with its parameters, which would put account keys and message bodies in the log.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    ours = logging.getLevelName(level.upper())
    if not isinstance(ours, int):
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(max(ours, logging.WARNING))
    logging.getLogger("xmppd").setLevel(ours)


class SessionLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every record with the session's name (Prosody's ``c2s55f3a0`` style)."""

    def __init__(self, logger: logging.Logger, name: str) -> None:
        super().__init__(logger, {})
        self.session_name = name

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"{self.session_name}: {msg}", kwargs
