"""Configuration: TOML -> frozen dataclasses, validated at load, documented from the code.

Every section is a frozen dataclass whose fields carry their defaults and, as the string right below each
field, their documentation (the same convention modules use for their ``Config``). A field made with
``option()`` also declares its allowed range or choices (Prosody's ``get_option_integer(name, default, min,
max)``), and both validation and the reference read them from there.

``docs/configuration.md`` is generated from these classes (``xmppd config docs > docs/configuration.md``), and
a test checks that the committed file matches, so it cannot drift.

Validation collects every problem instead of stopping at the first: unknown sections and keys (with the
nearest valid name suggested), wrong types, out-of-range values and inconsistent combinations, each named by
its dotted key.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import sys
import textwrap
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from xmppd.errors import ConfigError, JIDError
from xmppd.jid import prep_domainpart
from xmppd.modules.loader import AVAILABLE, DEFAULT_MODULES, module_class

T = TypeVar("T")

_RANGE = "xmppd.range"
_CHOICES = "xmppd.choices"


def option(
    default: T,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> T:
    """A dataclass field: ``default``, whose value must lie in ``[minimum, maximum]`` or among ``choices``.

    Defaults must be immutable (use tuples for lists): the dataclasses are frozen and share their defaults.
    """
    metadata: dict[str, Any] = {}
    if minimum is not None or maximum is not None:
        metadata[_RANGE] = (minimum, maximum)
    if choices is not None:
        metadata[_CHOICES] = choices
    return field(default=default, metadata=metadata)


_MAX_SIZE = 1 << 40  # "no practical limit" for byte counts and rates
LOG_LEVELS = ("debug", "info", "warning", "error")
_STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres", "memory")  # what xmppd.storage.open_storage serves


@dataclass(frozen=True, slots=True)
class ServerSection:
    hosts: tuple[str, ...] = ("localhost",)
    """The domains this server serves, in their prepared form (RFC 7622 section 3.2)."""
    data_dir: str = "./xmppd-data"
    """Where the server keeps its data: the SQLite database and the generated certificate. A relative path is
    relative to the configuration file's directory (to the current directory when there is no file)."""
    storage: str = ""
    """Storage URL: ``sqlite:///path.db`` or ``postgresql://user@host:port/db``; empty: SQLite in data_dir."""
    modules: tuple[str, ...] = DEFAULT_MODULES
    """Feature modules to enable (each is configured in its own ``[modules.NAME]`` section)."""
    log_level: str = option("info", choices=LOG_LEVELS)
    """How much to log on standard error (``xmppd serve --log-level`` overrides it)."""


@dataclass(frozen=True, slots=True)
class C2SSection:
    interfaces: tuple[str, ...] = ("127.0.0.1",)
    """Addresses to listen on for clients."""
    port: int = option(5222, minimum=0, maximum=65535)
    """Port for client streams with STARTTLS (RFC 6120); 0 disables it."""
    direct_tls_port: int = option(5223, minimum=0, maximum=65535)
    """Port for client streams over direct TLS (XEP-0368); 0 disables it."""
    tls_required: bool = True
    """Refuse to negotiate anything but STARTTLS before TLS (RFC 6120 section 5.3.1)."""
    plain_auth: bool = True
    """Offer SASL PLAIN inside TLS (never without)."""
    max_stanza_size: int = option(262144, minimum=1024, maximum=64 * 1024 * 1024)
    """Largest stanza accepted, in bytes; larger ones close the stream with policy-violation."""
    auth_timeout: float = option(60.0, minimum=1, maximum=3600)
    """Seconds a connection may take to authenticate and bind before it is closed."""
    max_auth_failures: int = option(3, minimum=1, maximum=100)
    """Failed SASL attempts allowed per connection (RFC 6120 section 6.4.5 asks for 2 to 5)."""
    rate_limit: int = option(65536, minimum=1024, maximum=_MAX_SIZE)
    """Bytes per second a client may send on average; faster clients are read more slowly."""
    rate_burst: int = option(1048576, minimum=1024, maximum=_MAX_SIZE)
    """Bytes a client may send at once above the average rate."""
    max_send_buffer: int = option(4194304, minimum=65536, maximum=_MAX_SIZE)
    """Bytes queued for a client that does not read before its stream is closed with policy-violation."""


@dataclass(frozen=True, slots=True)
class TLSSection:
    certificate: str = ""
    """PEM certificate chain; empty: a self-signed certificate generated in data_dir on first start. A
    relative path is relative to the configuration file's directory."""
    key: str = ""
    """PEM private key of the certificate (unencrypted); set it together with ``certificate``."""


@dataclass(frozen=True, slots=True)
class AuthSection:
    scram_iterations: int = option(4096, minimum=4096, maximum=10_000_000)
    """PBKDF2 iterations for new SCRAM keys (RFC 7677 section 4 asks for at least 4096)."""
    failure_delay: float = option(0.5, minimum=0, maximum=3600)
    """Seconds of delay after the first failed login of an account or address; doubles per failure."""
    max_failure_delay: float = option(30.0, minimum=0, maximum=3600)
    """The most a failed-login delay grows to."""


SECTIONS: dict[str, type[Any]] = {
    "server": ServerSection,
    "c2s": C2SSection,
    "tls": TLSSection,
    "auth": AuthSection,
}


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
    """The file this was read from; relative paths in it are relative to its directory."""

    def resolve(self, value: str) -> Path:
        """``value`` as an absolute path; a relative one starts from the file's directory (or the cwd)."""
        candidate = Path(value).expanduser()
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / candidate).resolve()

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.server.data_dir)

    @property
    def storage_url(self) -> str:
        if self.server.storage:
            return self.server.storage
        return f"sqlite:///{self.data_dir / 'xmppd.db'}"

    @property
    def certificate_path(self) -> Path:
        return self.resolve(self.tls.certificate) if self.tls.certificate else self.data_dir / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.resolve(self.tls.key) if self.tls.key else self.data_dir / "key.pem"


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Read and validate ``path`` (None: the defaults), then apply ``overrides`` (section -> key -> value).

    Raises ``ConfigError`` listing every problem, each starting with the key (or file) it concerns.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError([f"{path}: {exc.strerror or exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    for section, values in (overrides or {}).items():
        table = raw.setdefault(section, {})
        if isinstance(table, dict):  # otherwise parse_config reports the section
            table.update(values)
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document; raises ``ConfigError`` listing every problem."""
    problems: list[str] = []
    for key in raw:
        if key not in SECTIONS and key != "modules":
            problems.append(_unknown(key, "section", _suggest(key, [*SECTIONS, "modules"], "")))
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        value = raw.get(name, {})
        if not isinstance(value, dict):
            problems.append(f"{name}: must be a table ([{name}]), got {_describe(value)}")
            value = {}
        sections[name] = build(cls, value, name, problems)
    server: ServerSection = sections["server"]
    c2s: C2SSection = sections["c2s"]
    tls: TLSSection = sections["tls"]
    if not server.hosts:
        problems.append("server.hosts: at least one host is required")
    for host in server.hosts:
        problems.extend(_check_host(host))
    if server.storage:
        scheme = server.storage.partition(":")[0].partition("+")[0].lower()
        if scheme not in _STORAGE_SCHEMES:
            # Only the scheme is repeated: the URL may hold a password.
            problems.append(
                f"server.storage: unsupported scheme {scheme!r}; "
                "use sqlite:///path, postgresql://... or memory://"
            )
    if c2s.port and c2s.port == c2s.direct_tls_port:
        problems.append(f"c2s.direct_tls_port: must differ from c2s.port (both are {c2s.port})")
    if bool(tls.certificate) != bool(tls.key):
        missing, given = ("tls.key", "tls.certificate") if tls.certificate else ("tls.certificate", "tls.key")
        problems.append(f"{missing}: required when {given} is set")
    modules = _modules(raw.get("modules", {}), server.modules, problems)
    if problems:
        raise ConfigError(problems)
    return Config(server=server, c2s=c2s, tls=tls, auth=sections["auth"], modules=modules, path=path)


def _check_host(host: str) -> list[str]:
    try:
        prepared = prep_domainpart(host)
    except JIDError as exc:
        return [f"server.hosts: {host!r} is not a valid domain: {exc}"]
    if prepared != host:
        return [f"server.hosts: write {host!r} in its prepared form {prepared!r}"]
    return []


def _modules(raw: Any, enabled: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    for name in enabled:
        if name not in AVAILABLE:
            hint = _suggest(name, AVAILABLE, "")
            problems.append(
                f"server.modules: unknown module {name!r}" + (f"; did you mean {hint!r}?" if hint else "")
            )
    if not isinstance(raw, dict):
        problems.append(f"modules: must be a table of [modules.NAME] sections, got {_describe(raw)}")
        return {}
    configs: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in AVAILABLE:
            problems.append(_unknown(f"modules.{name}", "module", _suggest(name, AVAILABLE, "modules.")))
            continue
        if not isinstance(values, dict):
            problems.append(f"modules.{name}: must be a table ([modules.{name}]), got {_describe(values)}")
            continue
        configs[name] = build(module_class(name).Config, values, f"modules.{name}", problems)
    for name in enabled:
        if name in AVAILABLE and name not in configs:
            configs[name] = module_class(name).Config()
    return configs


def _suggest(name: str, valid: Iterable[str], prefix: str) -> str | None:
    """The valid name (with ``prefix``) closest to ``name``, or None when none is close (difflib).

    Case is ignored in the comparison: TOML keys are case-sensitive, and ``Port`` for ``port`` is a slip.
    """
    by_folded = {candidate.casefold(): candidate for candidate in valid}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    return prefix + by_folded[close[0]] if close else None


def _suggest_elsewhere(key: str, section: str) -> str | None:
    """``other.key`` when ``key`` is not close to anything in ``section`` but is a key of another section."""
    for name, cls in SECTIONS.items():
        if name != section and key in {item.name for item in dataclasses.fields(cls)}:
            return f"{name}.{key}"
    return None


def _unknown(dotted: str, kind: str, suggestion: str | None) -> str:
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return f"{dotted}: unknown {kind}{hint}"


def _describe(value: Any) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return f"{kind.get(type(value), type(value).__name__)} {_toml(value)}"


def build(cls: type[T], values: dict[str, Any], prefix: str, problems: list[str]) -> T:
    """Instantiate dataclass ``cls`` from ``values``, appending every problem (named by key) to ``problems``.

    A key that is wrong keeps its default, so that later checks still see a complete section.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {item.name: item for item in dataclasses.fields(cls)}
    accepted: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}"
        if key not in fields:
            section = prefix.partition(".")[0]
            suggestion = _suggest(key, fields, f"{prefix}.") or _suggest_elsewhere(key, section)
            problems.append(_unknown(dotted, "key", suggestion))
            continue
        converted = _convert(value, hints[key])
        if converted is _INVALID:
            problems.append(f"{dotted}: expected {_type_name(hints[key])}, got {_describe(value)}")
            continue
        problem = _check_bounds(fields[key], converted)
        if problem is not None:
            problems.append(f"{dotted}: {problem}")
            continue
        accepted[key] = converted
    return cls(**accepted)


def _check_bounds(item: dataclasses.Field[Any], value: Any) -> str | None:
    minimum, maximum = item.metadata.get(_RANGE, (None, None))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        return f"must be {_range_text(minimum, maximum)}, got {_toml(value)}"
    choices: tuple[str, ...] | None = item.metadata.get(_CHOICES)
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(map(_toml, choices))}, got {_toml(value)}"
    return None


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is None:
        return f"at most {_number(maximum)}"
    if maximum is None:
        return f"at least {_number(minimum)}"
    return f"between {_number(minimum)} and {_number(maximum)}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


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
        for choice in typing.get_args(hint):
            if choice is type(None):
                continue
            converted = _convert(value, choice)
            if converted is not _INVALID:
                return converted
        return _INVALID
    return _INVALID


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return "a list of strings"
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(choice) for choice in typing.get_args(hint) if choice is not type(None))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


# -- documentation generated from the code -------------------------------------------------------------------


def field_docs(cls: type[Any]) -> dict[str, str]:
    """The string literal written right below each field of dataclass ``cls``, on one line."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _toml(value: Any) -> str:
    """``value`` written as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)


def _default(item: dataclasses.Field[Any]) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    raise TypeError(f"option {item.name!r} has no default")


def _markdown(text: str) -> str:
    # Docstrings use reStructuredText literals; a table cell must not contain a bare "|".
    return text.replace("``", "`").replace("|", "\\|")


def _section_doc(title: str, cls: type[Any], intro: str | None = None) -> list[str]:
    lines = [f"## `[{title}]`", ""]
    if intro:
        lines.extend([intro, ""])
    options = dataclasses.fields(cls)
    if not options:
        lines.extend(["No options.", ""])
        return lines
    lines.extend(["| key | default | meaning |", "| --- | --- | --- |"])
    docs = field_docs(cls)
    for item in options:
        meaning = docs.get(item.name, "")
        minimum, maximum = item.metadata.get(_RANGE, (None, None))
        if minimum is not None or maximum is not None:
            meaning += f" Must be {_range_text(minimum, maximum)}."
        choices = item.metadata.get(_CHOICES)
        if choices is not None:
            meaning += f" One of {', '.join(f'`{_toml(choice)}`' for choice in choices)}."
        lines.append(f"| `{item.name}` | `{_toml(_default(item))}` | {_markdown(meaning.strip())} |")
    lines.append("")
    return lines


def reference() -> str:
    """The configuration reference in Markdown: the content of docs/configuration.md."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from the code: `xmppd config docs > docs/configuration.md`. Do not edit by hand. -->",
        "",
        "xmppd reads one TOML file (`xmppd serve --config FILE`); every key is optional, and with no file",
        "at all every default below applies: the domain `localhost` on 127.0.0.1, ports 5222 (STARTTLS) and",
        "5223 (direct TLS), SQLite and a self-signed certificate under `./xmppd-data/`.",
        "`xmppd config check FILE` prints every problem with the key it concerns.",
        "",
    ]
    for name, cls in SECTIONS.items():
        lines.extend(_section_doc(name, cls))
    for name in sorted(AVAILABLE):
        cls = module_class(name)
        # A module file's docstring starts with its title line, such as "XEP-0199: XMPP Ping."
        title = (inspect.getdoc(sys.modules[cls.__module__]) or cls.spec.number).splitlines()[0]
        lines.extend(_section_doc(f"modules.{name}", cls.Config, _markdown(title)))
    return "\n".join(lines).rstrip() + "\n"
