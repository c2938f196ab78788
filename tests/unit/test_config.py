"""xmppd/config.py: defaults, validation (every problem, named by its key) and the generated reference."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from xmppd.config import (
    SECTIONS,
    field_docs,
    load_config,
    parse_config,
    reference,
)
from xmppd.errors import ConfigError
from xmppd.modules.loader import AVAILABLE, DEFAULT_MODULES, module_class

ROOT = Path(__file__).resolve().parents[2]


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.problems


# -- defaults ------------------------------------------------------------------------------------------------


def test_no_configuration_serves_localhost_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.server.hosts == ("localhost",)
    assert config.c2s.interfaces == ("127.0.0.1",)
    assert (config.c2s.port, config.c2s.direct_tls_port) == (5222, 5223)
    assert config.c2s.tls_required is True
    assert config.server.data_dir == "./xmppd-data"
    assert config.data_dir == tmp_path.resolve() / "xmppd-data"
    assert config.storage_url == f"sqlite:///{tmp_path.resolve() / 'xmppd-data' / 'xmppd.db'}"
    assert config.certificate_path == tmp_path.resolve() / "xmppd-data" / "cert.pem"
    assert config.key_path == tmp_path.resolve() / "xmppd-data" / "key.pem"
    assert config.server.log_level == "info"
    assert config.auth.scram_iterations == 4096
    assert config.path is None


def test_no_configuration_enables_the_default_modules_with_their_defaults() -> None:
    config = parse_config({})
    assert config.server.modules == DEFAULT_MODULES
    assert config.modules == {name: module_class(name).Config() for name in config.server.modules}


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "xmppd.toml"
    path.write_text("")
    config = load_config(path)
    assert dataclasses.replace(config, path=None) == parse_config({})
    assert config.path == path


def test_a_file_sets_values_and_keeps_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "xmppd.toml"
    path.write_text(
        '[server]\nhosts = ["example.org", "example.net"]\nstorage = "postgresql://xmppd@db/xmppd"\n'
        "[c2s]\nport = 15222\nauth_timeout = 30\n"
        "[modules.version]\nshow_os = true\n"
    )
    config = load_config(path)
    assert config.server.hosts == ("example.org", "example.net")
    assert config.storage_url == "postgresql://xmppd@db/xmppd"
    assert config.c2s.port == 15222
    assert config.c2s.direct_tls_port == 5223
    assert config.c2s.auth_timeout == 30.0 and isinstance(config.c2s.auth_timeout, float)
    assert config.modules["version"] == module_class("version").Config(show_os=True)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "xmppd.toml"
    path.write_text(
        '[server]\ndata_dir = "data"\n[tls]\ncertificate = "tls/cert.pem"\nkey = "/keys/key.pem"\n'
    )
    config = load_config(path)
    assert config.data_dir == tmp_path.resolve() / "etc" / "data"
    assert config.certificate_path == tmp_path.resolve() / "etc" / "tls" / "cert.pem"
    assert config.key_path == Path("/keys/key.pem")


@pytest.mark.parametrize(
    "storage",
    ["sqlite:///var/xmppd.db", "postgresql://xmppd@db/xmppd", "postgresql+asyncpg://db/x", "memory://"],
)
def test_storage_urls_that_are_served(storage: str) -> None:
    assert parse_config({"server": {"storage": storage}}).storage_url == storage


def test_overrides_apply_on_top_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "xmppd.toml"
    path.write_text('[server]\nlog_level = "warning"\n')
    assert load_config(path, {"server": {"log_level": "debug"}}).server.log_level == "debug"


# -- validation: one kind of problem at a time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"c2s": {"port": "5222"}}, 'c2s.port: expected an integer, got a string "5222"'),
        ({"c2s": {"port": 5222.0}}, "c2s.port: expected an integer, got a number 5222.0"),
        ({"c2s": {"port": True}}, "c2s.port: expected an integer, got a boolean true"),
        ({"c2s": {"tls_required": 1}}, "c2s.tls_required: expected true or false, got an integer 1"),
        ({"c2s": {"auth_timeout": "1m"}}, 'c2s.auth_timeout: expected a number, got a string "1m"'),
        (
            {"server": {"hosts": "example.org"}},
            'server.hosts: expected a list of strings, got a string "example.org"',
        ),
        (
            {"server": {"hosts": ["a.example", 1]}},
            'server.hosts: expected a list of strings, got a list ["a.example", 1]',
        ),
        ({"tls": {"certificate": 5}}, "tls.certificate: expected a string, got an integer 5"),
        ({"c2s": {"port": {"tcp": 5222}}}, "c2s.port: expected an integer, got a table {'tcp': 5222}"),
    ],
)
def test_wrong_type(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"c2s": {"port": 65536}}, "c2s.port: must be between 0 and 65535, got 65536"),
        ({"c2s": {"direct_tls_port": -1}}, "c2s.direct_tls_port: must be between 0 and 65535, got -1"),
        (
            {"c2s": {"max_stanza_size": 100}},
            "c2s.max_stanza_size: must be between 1024 and 67108864, got 100",
        ),
        ({"c2s": {"auth_timeout": 0.5}}, "c2s.auth_timeout: must be between 1 and 3600, got 0.5"),
        (
            {"auth": {"scram_iterations": 1000}},
            "auth.scram_iterations: must be between 4096 and 10000000, got 1000",
        ),
        (
            {"server": {"log_level": "verbose"}},
            'server.log_level: must be one of "debug", "info", "warning", "error", got "verbose"',
        ),
    ],
)
def test_out_of_range(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


def test_the_bounds_themselves_are_accepted() -> None:
    config = parse_config({"c2s": {"port": 0, "direct_tls_port": 65535}, "auth": {"scram_iterations": 4096}})
    assert (config.c2s.port, config.c2s.direct_tls_port) == (0, 65535)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"c2s": {"prot": 1}}, "c2s.prot: unknown key; did you mean 'c2s.port'?"),
        ({"server": {"host": ["a.example"]}}, "server.host: unknown key; did you mean 'server.hosts'?"),
        ({"tls": {"certficate": "x"}}, "tls.certficate: unknown key; did you mean 'tls.certificate'?"),
        # Not close to anything in its section, but a key of another one: the section was wrong.
        (
            {"server": {"interfaces": ["::1"]}},
            "server.interfaces: unknown key; did you mean 'c2s.interfaces'?",
        ),
        ({"c2s": {"Port": 1}}, "c2s.Port: unknown key; did you mean 'c2s.port'?"),
        ({"c2s": {"zzzz": 1}}, "c2s.zzzz: unknown key"),
        (
            {"modules": {"ping": {"intervall": 5.0}}},
            "modules.ping.intervall: unknown key; did you mean 'modules.ping.interval'?",
        ),
    ],
)
def test_unknown_key_suggests_the_nearest(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"sever": {}}, "sever: unknown section; did you mean 'server'?"),
        ({"C2S": {}}, "C2S: unknown section; did you mean 'c2s'?"),
        ({"s2s": {}}, "s2s: unknown section; did you mean 'c2s'?"),
        ({"database": {}}, "database: unknown section"),
        ({"modules": {"pnig": {}}}, "modules.pnig: unknown module; did you mean 'modules.ping'?"),
        (
            {"server": {"modules": ["disco", "versoin"]}},
            "server.modules: unknown module 'versoin'; did you mean 'version'?",
        ),
    ],
)
def test_unknown_section_or_module(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"server": 5}, "server: must be a table ([server]), got an integer 5"),
        ({"modules": ["ping"]}, 'modules: must be a table of [modules.NAME] sections, got a list ["ping"]'),
        ({"modules": {"ping": 1}}, "modules.ping: must be a table ([modules.ping]), got an integer 1"),
        (
            {"modules": {"ping": {"timeout": "soon"}}},
            'modules.ping.timeout: expected a number, got a string "soon"',
        ),
    ],
)
def test_wrong_shape(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"server": {"hosts": []}}, "server.hosts: at least one host is required"),
        (
            {"server": {"hosts": ["Example.ORG"]}},
            "server.hosts: write 'Example.ORG' in its prepared form 'example.org'",
        ),
        (
            {"c2s": {"port": 5222, "direct_tls_port": 5222}},
            "c2s.direct_tls_port: must differ from c2s.port (both are 5222)",
        ),
        ({"tls": {"certificate": "cert.pem"}}, "tls.key: required when tls.certificate is set"),
        ({"tls": {"key": "key.pem"}}, "tls.certificate: required when tls.key is set"),
        (
            {"server": {"storage": "mysql://root:hunter2@db/xmppd"}},
            "server.storage: unsupported scheme 'mysql'; use sqlite:///path, postgresql://... or memory://",
        ),
    ],
)
def test_inconsistent_values(raw: dict[str, Any], expected: str) -> None:
    assert problems(raw) == [expected]


def test_an_invalid_host() -> None:
    [problem] = problems({"server": {"hosts": ["bad host"]}})
    assert problem.startswith("server.hosts: 'bad host' is not a valid domain: ")


def test_both_ports_off_are_not_a_conflict() -> None:
    assert parse_config({"c2s": {"port": 0, "direct_tls_port": 0}}).c2s.port == 0


# -- validation: everything at once --------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "sever": {},
        "server": {"log_level": "loud", "hosts": ["Example.org"]},
        "c2s": {"port": "x", "prot": 1, "auth_timeout": 0},
        "auth": {"scram_iterations": 1},
        "modules": {"pnig": {}, "version": {"show_os": "yes"}},
    }
    assert problems(raw) == [
        "sever: unknown section; did you mean 'server'?",
        'server.log_level: must be one of "debug", "info", "warning", "error", got "loud"',
        'c2s.port: expected an integer, got a string "x"',
        "c2s.prot: unknown key; did you mean 'c2s.port'?",
        "c2s.auth_timeout: must be between 1 and 3600, got 0.0",
        "auth.scram_iterations: must be between 4096 and 10000000, got 1",
        "server.hosts: write 'Example.org' in its prepared form 'example.org'",
        "modules.pnig: unknown module; did you mean 'modules.ping'?",
        'modules.version.show_os: expected true or false, got a string "yes"',
    ]


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: No such file or directory"]


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "xmppd.toml"
    path.write_text("[server\nhosts = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: not valid TOML: ")
    assert "line 1" in problem


# -- the generated reference ---------------------------------------------------------------------------------


def test_docs_configuration_md_is_what_the_code_generates() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == reference(), (
        "docs/configuration.md is out of date: regenerate it with `xmppd config docs > docs/configuration.md`"
    )


OPTION_CLASSES: dict[str, type[Any]] = {
    **SECTIONS,
    **{f"modules.{name}": module_class(name).Config for name in sorted(AVAILABLE)},
}


@pytest.mark.parametrize("title", OPTION_CLASSES)
def test_every_option_is_documented(title: str) -> None:
    cls = OPTION_CLASSES[title]
    names = [item.name for item in dataclasses.fields(cls)]
    docs = field_docs(cls)
    assert [name for name in names if not docs.get(name)] == []
    section = reference().split(f"## `[{title}]`\n", 1)[1].split("\n## ", 1)[0]
    for name in names:
        assert f"| `{name}` |" in section


def test_the_reference_shows_defaults_ranges_and_choices() -> None:
    text = reference()
    assert '| `hosts` | `["localhost"]` | ' in text
    assert "| `port` | `5222` | Port for client streams with STARTTLS (RFC 6120); 0 disables it. " in text
    assert "Must be between 0 and 65535. |" in text
    assert 'One of `"debug"`, `"info"`, `"warning"`, `"error"`. |' in text
    assert "| `tls_required` | `true` |" in text


def test_the_readme_example_is_valid() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    config = parse_config(tomllib.loads(example))
    assert config.server.hosts == ("example.org",)
