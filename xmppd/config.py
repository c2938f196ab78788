"""Configuration: TOML -> frozen dataclasses, validated at load, documented from the code.

Every section is a frozen dataclass whose fields carry their defaults and, as the string right below each field,
their documentation (the same convention modules use for their ``Config``). ``docs/configuration.md`` is generated
from these classes (``xmppd config docs``), and a test checks that the file matches, so it cannot drift.

Validation collects every problem instead of stopping at the first: unknown keys (with the nearest valid key
suggested), wrong types and out-of-range values, each named by its dotted key.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from xmppd.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServerSection:
    hosts: tuple[str, ...] = ("localhost",)
    """The domains this server serves (RFC 7622 domainparts)."""
    data_dir: str = "./xmppd-data"
    """Where the server keeps its data: the SQLite database and the generated certificate."""
    storage: str = ""
    """Storage URL: ``sqlite:///path.db`` or ``postgresql://user@host:port/db``; empty: SQLite in data_dir."""
    modules: tuple[str, ...] = ("disco", "ping", "version", "time")
    """Feature modules to enable (each is configured in its own ``[modules.NAME]`` section)."""
    log_level: str = "info"
    """One of debug, info, warning, error."""


@dataclass(frozen=True, slots=True)
class C2SSection:
    interfaces: tuple[str, ...] = ("127.0.0.1",)
    """Addresses to listen on for clients."""
    port: int = 5222
    """Port for client streams with STARTTLS (RFC 6120); 0 disables it."""
    direct_tls_port: int = 5223
    """Port for client streams over direct TLS (XEP-0368); 0 disables it."""
    tls_required: bool = True
    """Refuse to negotiate anything but STARTTLS before TLS (RFC 6120 section 5.3.1)."""
    plain_auth: bool = True
    """Offer SASL PLAIN inside TLS (never without)."""
    max_stanza_size: int = 262144
    """Largest stanza accepted, in bytes; larger ones close the stream with policy-violation."""
    auth_timeout: float = 60.0
    """Seconds a connection may take to authenticate and bind before it is closed."""
    max_auth_failures: int = 3
    """Failed SASL attempts allowed per connection (RFC 6120 section 6.4.5 asks for 2 to 5)."""
    rate_limit: int = 65536
    """Bytes per second a client may send on average; faster clients are read more slowly."""
    rate_burst: int = 1048576
    """Bytes a client may send at once above the average rate."""
    max_send_buffer: int = 4194304
    """Bytes queued for a client that does not read before its stream is closed with policy-violation."""


@dataclass(frozen=True, slots=True)
class TLSSection:
    certificate: str = ""
    """PEM certificate chain; empty: a self-signed certificate generated in data_dir on first start."""
    key: str = ""
    """PEM private key for the certificate; empty: generated with the certificate."""


@dataclass(frozen=True, slots=True)
class AuthSection:
    scram_iterations: int = 4096
    """PBKDF2 iterations for new SCRAM keys (RFC 7677 asks for at least 4096)."""
    failure_delay: float = 0.5
    """Seconds of delay after the first failed login of an account or address; doubles per failure."""
    max_failure_delay: float = 30.0
    """The most a failed-login delay grows to."""


SECTIONS: dict[str, type[Any]] = {
    "server": ServerSection,
    "c2s": C2SSection,
    "tls": TLSSection,
    "auth": AuthSection,
}

_RANGES: dict[str, tuple[float, float]] = {
    "c2s.port": (0, 65535),
    "c2s.direct_tls_port": (0, 65535),
    "c2s.max_stanza_size": (1024, 64 * 1024 * 1024),
    "c2s.auth_timeout": (1, 3600),
    "c2s.max_auth_failures": (1, 100),
    "c2s.rate_limit": (1024, 1 << 40),
    "c2s.rate_burst": (1024, 1 << 40),
    "c2s.max_send_buffer": (65536, 1 << 40),
    "auth.scram_iterations": (4096, 10_000_000),
    "auth.failure_delay": (0, 3600),
    "auth.max_failure_delay": (0, 3600),
}

_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    server: ServerSection = field(default_factory=ServerSection)
    c2s: C2SSection = field(default_factory=C2SSection)
    tls: TLSSection = field(default_factory=TLSSection)
    auth: AuthSection = field(default_factory=AuthSection)
    modules: dict[str, Any] = field(default_factory=dict)
    """Module name -> that module's validated Config."""
    path: Path | None = None

    @property
    def data_dir(self) -> Path:
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / self.server.data_dir).resolve()

    @property
    def storage_url(self) -> str:
        if self.server.storage:
            return self.server.storage
        return f"sqlite:///{self.data_dir / 'xmppd.db'}"

    @property
    def certificate_path(self) -> Path:
        return Path(self.tls.certificate) if self.tls.certificate else self.data_dir / "cert.pem"

    @property
    def key_path(self) -> Path:
        return Path(self.tls.key) if self.tls.key else self.data_dir / "key.pem"


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Read and validate ``path`` (None: the defaults); raises ConfigError listing every problem."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError([f"{path}: {exc.strerror}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    known = [*SECTIONS, "modules"]
    for key in raw:
        if key not in known:
            problems.append(_unknown(key, key, known))
    for name, cls in SECTIONS.items():
        value = raw.get(name, {})
        if not isinstance(value, dict):
            problems.append(f"{name}: must be a table")
            value = {}
        sections[name] = build(cls, value, name, problems)
    server: ServerSection = sections["server"]
    if server.log_level not in _LOG_LEVELS:
        problems.append(f"server.log_level: must be one of {', '.join(_LOG_LEVELS)}")
    if not server.hosts:
        problems.append("server.hosts: at least one host is required")
    for host in server.hosts:
        problems.extend(_check_host(host))
    modules = _modules(raw.get("modules", {}), server.modules, problems)
    if problems:
        raise ConfigError(problems)
    return Config(
        server=server,
        c2s=sections["c2s"],
        tls=sections["tls"],
        auth=sections["auth"],
        modules=modules,
        path=path,
    )


def _check_host(host: str) -> list[str]:
    from xmppd.errors import JIDError
    from xmppd.jid import prep_domainpart

    try:
        prepared = prep_domainpart(host)
    except JIDError as exc:
        return [f"server.hosts: {host!r} is not a valid domain: {exc}"]
    if prepared != host:
        return [f"server.hosts: write {host!r} in its prepared form {prepared!r}"]
    return []


def _modules(raw: Any, enabled: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    from xmppd.modules.loader import AVAILABLE, module_class

    if not isinstance(raw, dict):
        problems.append("modules: must be a table of module sections")
        return {}
    for name in enabled:
        if name not in AVAILABLE:
            problems.append(_unknown("server.modules", name, list(AVAILABLE)))
    configs: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in AVAILABLE:
            problems.append(_unknown(f"modules.{name}", name, list(AVAILABLE)))
            continue
        if not isinstance(values, dict):
            problems.append(f"modules.{name}: must be a table")
            continue
        configs[name] = build(module_class(name).Config, values, f"modules.{name}", problems)
    for name in enabled:
        if name in AVAILABLE and name not in configs:
            configs[name] = module_class(name).Config()
    return configs


def _unknown(key: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{key}: unknown {'key' if '.' in key or key == name else 'name'} {name!r}{hint}"


def build(cls: type[T], values: dict[str, Any], prefix: str, problems: list[str]) -> T:
    """Instantiate dataclass ``cls`` from ``values``, appending every problem (named by key) to ``problems``."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    accepted: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}"
        if key not in fields:
            problems.append(_unknown(dotted, key, list(fields)))
            continue
        converted = _convert(value, hints[key])
        if converted is _INVALID:
            problems.append(
                f"{dotted}: expected {_type_name(hints[key])}, got {type(value).__name__} {value!r}"
            )
            continue
        bounds = _RANGES.get(dotted)
        if bounds is not None and not bounds[0] <= converted <= bounds[1]:
            problems.append(f"{dotted}: must be between {bounds[0]:g} and {bounds[1]:g}")
            continue
        accepted[key] = converted
    return cls(**accepted)


_INVALID = object()


def _convert(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        return value if isinstance(value, bool) else _INVALID
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if hint is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _INVALID
    if hint is str:
        return value if isinstance(value, str) else _INVALID
    if origin in (tuple, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return _INVALID
        return tuple(value) if origin is tuple else list(value)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            converted = _convert(value, option)
            if converted is not _INVALID:
                return converted
        return _INVALID
    return _INVALID


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return "a list of strings"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


# -- documentation generated from the code ---------------------------------------------------------------------


@cache
def field_docs(cls: type[Any]) -> dict[str, str]:
    """The string literal written right below each field of dataclass ``cls``."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _format_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return repr(value)


def _section_doc(title: str, cls: type[Any]) -> list[str]:
    lines = [f"## `[{title}]`", "", "| key | default | meaning |", "| --- | --- | --- |"]
    docs = field_docs(cls)
    for item in dataclasses.fields(cls):
        default = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[misc]
        meaning = docs.get(item.name, "")
        bounds = _RANGES.get(f"{title}.{item.name}")
        if bounds is not None:
            meaning += f" Range: {bounds[0]:g} to {bounds[1]:g}."
        lines.append(f"| `{item.name}` | `{_format_default(default)}` | {meaning.strip()} |")
    lines.append("")
    return lines


def reference() -> str:
    """The configuration reference in Markdown (the content of docs/configuration.md)."""
    from xmppd.modules.loader import AVAILABLE, module_class

    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `xmppd config docs` from the code's own definitions; do not edit by hand. -->",
        "",
        "xmppd reads one TOML file (`xmppd serve --config FILE`); with no file every default below applies.",
        "`xmppd config check FILE` prints every problem with the key it concerns.",
        "",
    ]
    for name, cls in SECTIONS.items():
        lines.extend(_section_doc(name, cls))
    for name in sorted(AVAILABLE):
        cls = module_class(name)
        title = f"modules.{name}"
        if not dataclasses.fields(cls.Config):
            lines.extend([f"## `[{title}]`", "", f"{cls.spec.number}: no options.", ""])
            continue
        section = _section_doc(title, cls.Config)
        section.insert(1, f"\n{cls.spec.number}.")
        lines.extend(section)
    return "\n".join(lines).rstrip() + "\n"
