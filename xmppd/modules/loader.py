"""Enable modules from the configuration: resolve dependencies, register declarations, and undo it all.

Modules are known by name in ``AVAILABLE`` (name -> "package.module:Class"), imported only when enabled.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from xmppd.errors import ConfigError
from xmppd.host import Host
from xmppd.modules.api import Module, declared_filters, declared_hooks, declared_iq_handlers

AVAILABLE: Final[dict[str, str]] = {
    "disco": "xmppd.modules.disco:Disco",
    "ping": "xmppd.modules.ping:Ping",
    "version": "xmppd.modules.version:Version",
    "time": "xmppd.modules.time:Time",
    "roster": "xmppd.modules.roster:Roster",
    "presence": "xmppd.modules.presence:Presence",
    "vcard": "xmppd.modules.vcard:VCard",
    "private": "xmppd.modules.private:Private",
    "last": "xmppd.modules.last:LastActivity",
    "blocking": "xmppd.modules.blocking:Blocking",
    "offline": "xmppd.modules.offline:Offline",
    "register": "xmppd.modules.register:Register",
}

DEFAULT_MODULES: Final[tuple[str, ...]] = (
    "disco",
    "ping",
    "version",
    "time",
    "roster",
    "presence",
    "vcard",
    "private",
    "last",
    "blocking",
    "offline",
    "register",
)


def module_class(name: str) -> type[Module]:
    """The class of the module called ``name`` (raises KeyError for unknown names)."""
    path = AVAILABLE[name]
    module_name, _, class_name = path.partition(":")
    cls: type[Module] = getattr(importlib.import_module(module_name), class_name)
    return cls


def resolve(names: Sequence[str]) -> list[str]:
    """``names`` plus their dependencies, dependencies first; raises ConfigError for unknown names."""
    ordered: list[str] = []
    problems: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name not in AVAILABLE:
            problems.append(f"modules: unknown module {name!r}")
            return
        if name in chain:
            problems.append(f"modules: dependency cycle {' -> '.join((*chain, name))}")
            return
        for dependency in module_class(name).depends:
            visit(dependency, (*chain, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    if problems:
        raise ConfigError(problems)
    return ordered


async def load(host: Host, names: Sequence[str], configs: Mapping[str, Any]) -> None:
    """Enable ``names`` (and dependencies) on ``host``; ``configs`` maps a name to its validated Config."""
    for name in resolve(names):
        cls = module_class(name)
        module = cls(host, configs.get(name, cls.Config()))
        register(host, module)
        await module.start()


def register(host: Host, module: Module) -> None:
    """Put everything ``module`` declared on ``host``."""
    for key, handler in declared_iq_handlers(module):
        if key in host.iq_handlers:
            raise ConfigError([f"modules: {module.name} and another module both handle {key}"])
        host.iq_handlers[key] = handler
    for target, priority, handler in declared_hooks(module):
        host.hooks.add(target, handler, priority)
    for direction, check in declared_filters(module):
        (host.filters_in if direction == "in" else host.filters_out).append(check)
    host.features.extend(f for f in module.features if f not in host.features)
    host.account_features.extend(f for f in module.account_features if f not in host.account_features)
    host.identities.extend(i for i in module.identities if i not in host.identities)
    host.modules[module.name] = module


async def unload(host: Host, name: str) -> None:
    """Disable module ``name`` on ``host``: stop it and remove every declaration it made."""
    module = host.modules.pop(name)
    await module.stop()
    for key, handler in declared_iq_handlers(module):
        if host.iq_handlers.get(key) == handler:
            del host.iq_handlers[key]
    for target, _priority, handler in declared_hooks(module):
        host.hooks.remove(target, handler)
    for direction, check in declared_filters(module):
        filters = host.filters_in if direction == "in" else host.filters_out
        filters[:] = [f for f in filters if f != check]
    remaining = host.modules.values()
    host.features[:] = [f for f in host.features if any(f in m.features for m in remaining)]
    host.account_features[:] = [
        f for f in host.account_features if any(f in m.account_features for m in remaining)
    ]
    host.identities[:] = [i for i in host.identities if any(i in m.identities for m in remaining)]


async def unload_all(host: Host) -> None:
    for name in reversed(list(host.modules)):
        await unload(host, name)
