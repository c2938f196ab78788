"""The module contract: what a feature module declares, and what it gets to work with.

A module is a class in one file. Class attributes say what it offers (its ``spec``, disco ``features`` and
``identities``, the names it ``depends`` on, its ``Config``); decorated methods say what it handles
(``@iq_handler``) and which server events it follows (``@hook``). ``xmppd.modules.loader`` reads those
declarations, registers everything on the host, and removes every one of them on unload: no module wires itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from xmppd.hooks import Hook, Priority
from xmppd.routing.router import IqRequest, StanzaContext, To

if TYPE_CHECKING:
    from xmppd.host import Host

__all__ = [
    "Identity",
    "IqRequest",
    "Module",
    "NoConfig",
    "Spec",
    "StanzaContext",
    "To",
    "hook",
    "iq_handler",
    "stanza_filter",
]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
G = TypeVar("G", bound=Callable[..., Any])

_IQ_MARK = "_xmppd_iq"
_HOOK_MARK = "_xmppd_hooks"
_FILTER_MARK = "_xmppd_filter"


@dataclass(frozen=True, slots=True)
class Spec:
    """The specification a module implements, for the compliance table (XEP-0479)."""

    number: str
    version: str
    status: Literal["complete", "partial"] = "complete"
    note: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    """A XEP-0030 identity."""

    category: str
    type: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class NoConfig:
    """This module has no options."""


def iq_handler(
    type: Literal["get", "set"], ns: str, name: str, to: tuple[To, ...] = (To.HOST,)
) -> Callable[[F], F]:
    """Declare a method as the handler of IQ ``type`` requests whose payload is ``{ns}name`` sent to ``to``.

    The handler receives an ``IqRequest`` and returns the result payload (None: an empty result) or raises
    ``StanzaError``; the router renders either.
    """

    def mark(function: F) -> F:
        marks: list[tuple[str, str, str, tuple[To, ...]]] = getattr(function, _IQ_MARK, [])
        marks.append((type, ns, name, to))
        setattr(function, _IQ_MARK, marks)
        return function

    return mark


def hook(target: Hook[Any], priority: int = Priority.NORMAL) -> Callable[[F], F]:
    """Declare a method as a handler of ``target`` with ``priority``."""

    def mark(function: F) -> F:
        marks: list[tuple[Hook[Any], int]] = getattr(function, _HOOK_MARK, [])
        marks.append((target, priority))
        setattr(function, _HOOK_MARK, marks)
        return function

    return mark


def stanza_filter(direction: Literal["in", "out"]) -> Callable[[G], G]:
    """Declare a method as a stanza filter: ``"out"`` for what the host's sessions send, ``"in"`` for what its
    accounts are sent (``xmppd.routing.router`` says what a filter returns). Filters run in module load order.
    """

    def mark(function: G) -> G:
        setattr(function, _FILTER_MARK, direction)
        return function

    return mark


def declared_filters(module: Module) -> list[tuple[Literal["in", "out"], Callable[..., Any]]]:
    """The (direction, bound method) pairs a module declared with ``@stanza_filter``."""
    found = []
    for attr in dir(type(module)):
        direction = getattr(getattr(type(module), attr, None), _FILTER_MARK, None)
        if direction is not None:
            found.append((direction, getattr(module, attr)))
    return found


def declared_iq_handlers(
    module: Module,
) -> list[tuple[tuple[str, str, str, To], Callable[..., Awaitable[Any]]]]:
    """The (key, bound method) pairs a module declared with ``@iq_handler``."""
    found = []
    for attr in dir(type(module)):
        function = getattr(type(module), attr, None)
        for iq_type, ns, name, targets in getattr(function, _IQ_MARK, ()):
            for target in targets:
                found.append(((iq_type, ns, name, target), getattr(module, attr)))
    return found


def declared_hooks(module: Module) -> list[tuple[Hook[Any], int, Callable[..., Awaitable[Any]]]]:
    """The (hook, priority, bound method) triples a module declared with ``@hook``."""
    found = []
    for attr in dir(type(module)):
        function = getattr(type(module), attr, None)
        for target, priority in getattr(function, _HOOK_MARK, ()):
            found.append((target, priority, getattr(module, attr)))
    return found


class Module:
    """Base class of feature modules; see the module docstring."""

    name: ClassVar[str]
    """The name used in the configuration's ``modules`` list."""
    spec: ClassVar[Spec]
    features: ClassVar[tuple[str, ...]] = ()
    """Disco features of the server's domain."""
    account_features: ClassVar[tuple[str, ...]] = ()
    """Disco features of every account's bare JID."""
    identities: ClassVar[tuple[Identity, ...]] = ()
    stream_features: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Empty stream features, as (namespace, name), offered to clients once authenticated (RFC 6121 section
    2.6.1 roster versioning, section 3.4 pre-approval)."""
    depends: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[Any]] = NoConfig

    def __init__(self, host: Host, config: Any) -> None:
        self.host = host
        self.config = config
        self.log = logging.getLogger(f"xmppd.modules.{self.name}")

    async def start(self) -> None:
        """Called once the module's handlers are registered."""

    async def stop(self) -> None:
        """Called before the module's handlers are removed."""
