"""Running a coroutine on uvloop's event loop when it is installed (asyncio's own otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop  # noqa: PLC0415 (optional)
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    try:
        import uvloop  # noqa: PLC0415, F401 (optional)
    except ImportError:
        return "asyncio"
    return "uvloop"
