"""The comparison runner's server configurations and plan: written and checked without starting a server."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare
from benchmarks.servers import SERVERS, Certificate, ServerError, ensure_certificate
from benchmarks.servers.base import NO_RATE_LIMIT, Server
from benchmarks.servers.ejabberd import Ejabberd
from benchmarks.servers.prosody import Prosody
from benchmarks.servers.xmppd import Xmppd
from xmppd.config import load_config


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return ensure_certificate(tmp_path_factory.mktemp("tls"))


def make(cls: type[Server], tmp_path: Path, certificate: Certificate, require_tls: bool = True) -> Server:
    server = cls(tmp_path, certificate)
    server.require_tls = require_tls
    return server


# -- common ----------------------------------------------------------------------------------------------------


def test_each_server_has_its_own_loopback_ports_and_work_directory(
    tmp_path: Path, certificate: Certificate
) -> None:
    servers = [cls(tmp_path, certificate) for cls in SERVERS.values()]
    ports = [port for server in servers for port in (server.port, server.direct_tls_port)]
    assert len(set(ports)) == len(ports) == 6
    assert {(s.name, s.port, s.direct_tls_port) for s in servers} == {
        ("xmppd", 25222, 25223),
        ("prosody", 15222, 15223),
        ("ejabberd", 16222, 16223),
    }
    assert {server.host for server in servers} == {"127.0.0.1"}
    assert {server.domain for server in servers} == {"localhost"}
    assert len({server.work_dir for server in servers}) == 3
    assert all(server.work_dir.parent == tmp_path for server in servers)


def test_every_port_is_below_the_ephemeral_range_and_shifts_with_the_offset(
    tmp_path: Path, certificate: Certificate
) -> None:
    ejabberd = Ejabberd(tmp_path, certificate)
    assert ejabberd.ports() == [16222, 16223, 16299]
    command = ejabberd.command()
    assert command[command.index("-erl_epmd_port") + 1] == "16299"
    for cls in SERVERS.values():
        assert all(1024 <= port < 32768 for port in cls(tmp_path, certificate).ports())
        shifted = cls(tmp_path, certificate, port_offset=100)
        assert shifted.ports() == [port + 100 for port in cls(tmp_path, certificate).ports()]
        assert str(shifted.port) in shifted.config_text()
    with pytest.raises(ServerError, match="outside 1024-32767"):
        Xmppd(tmp_path, certificate, port_offset=10000)


def test_every_server_is_pinned_to_core_0(tmp_path: Path, certificate: Certificate) -> None:
    for cls in SERVERS.values():
        assert cls(tmp_path, certificate).full_command()[:3] == ["taskset", "-c", "0"]
    assert Xmppd(tmp_path, certificate, core=None).full_command()[0] != "taskset"


def test_the_certificate_is_one_self_signed_p256_certificate_for_localhost(tmp_path: Path) -> None:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    first = ensure_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert cert.issuer == cert.subject
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    # Made once: a second call keeps the same files.
    before = first.cert.read_bytes()
    assert ensure_certificate(tmp_path) == first
    assert first.cert.read_bytes() == before


def test_write_config_creates_the_work_and_data_directories(tmp_path: Path, certificate: Certificate) -> None:
    for cls in SERVERS.values():
        server = cls(tmp_path, certificate)
        path = server.write_config()
        assert path.parent == server.work_dir
        assert path.read_text() == server.config_text()
        assert all(directory.is_dir() for directory in server.data_dirs())


# -- xmppd -----------------------------------------------------------------------------------------------------


def test_xmppd_config_is_valid_and_has_no_rate_limits(tmp_path: Path, certificate: Certificate) -> None:
    server = make(Xmppd, tmp_path, certificate)
    path = server.write_config()
    raw = tomllib.loads(path.read_text())
    assert raw["c2s"]["rate_limit"] == raw["c2s"]["rate_burst"] == NO_RATE_LIMIT
    assert raw["c2s"]["interfaces"] == ["127.0.0.1"]
    assert raw["server"]["log_level"] == "warning"
    assert raw["auth"]["scram_iterations"] == 4096
    assert raw["modules"]["register"] == {
        "allow_registration": True,
        "max_registrations_per_address": 1000000,
    }
    assert raw["modules"]["offline"]["max_messages"] == 1000000
    assert raw["tls"] == {"certificate": str(certificate.cert), "key": str(certificate.key)}
    # xmppd's own loader accepts every key and value.
    config = load_config(path)
    assert config.c2s.port == 25222
    assert config.c2s.direct_tls_port == 25223
    assert config.c2s.tls_required
    assert set(config.server.modules) >= {"roster", "presence", "offline", "blocking", "vcard", "register"}


def test_xmppd_without_required_tls(tmp_path: Path, certificate: Certificate) -> None:
    server = make(Xmppd, tmp_path, certificate, require_tls=False)
    assert not load_config(server.write_config()).c2s.tls_required


# -- Prosody ---------------------------------------------------------------------------------------------------


def test_prosody_config_has_the_essential_settings(tmp_path: Path, certificate: Certificate) -> None:
    server = make(Prosody, tmp_path, certificate)
    text = server.config_text()
    for setting in (
        "daemonize = false",
        'network_backend = "epoll"',
        'interfaces = { "127.0.0.1" }',
        "c2s_ports = { 15222 }",
        "c2s_direct_tls_ports = { 15223 }",
        "c2s_require_encryption = true",
        'authentication = "internal_hashed"',
        "default_iteration_count = 4096",
        "allow_registration = true",
        'registration_allowlist = { "127.0.0.0/8", "::1" }',
        'storage = "internal"',
        'modules_disabled = { "s2s" }',
        f"pidfile = {json.dumps(str(server.work_dir / 'prosody.pid'))}",
        f"log = {{ warn = {json.dumps(str(server.log_path))} }}",
        f"certificate = {json.dumps(str(certificate.cert))}",
        'VirtualHost "localhost"',
    ):
        assert setting in text, setting
    modules = text.split("modules_enabled = {", 1)[1].split("}", 1)[0]
    enabled = {line.strip().strip('";') for line in modules.splitlines() if line.strip()}
    assert enabled >= {"roster", "offline", "blocklist", "vcard", "private", "lastactivity", "disco", "ping"}
    assert enabled >= {"version", "time", "register", "saslauth", "tls"}
    # No traffic shaping, and no throttling of in-band registration.
    assert "limits" not in enabled
    assert "registration_throttle" not in text
    assert "min_seconds_between_registrations" not in text
    assert "-F" in server.command()
    assert server.command()[server.command().index("--config") + 1] == str(server.config_path)


def test_prosody_without_required_encryption(tmp_path: Path, certificate: Certificate) -> None:
    assert (
        "c2s_require_encryption = false"
        in make(Prosody, tmp_path, certificate, require_tls=False).config_text()
    )


@pytest.mark.skipif(shutil.which("luac5.4") is None, reason="no Lua 5.4 compiler to check the syntax")
def test_prosody_config_is_valid_lua(tmp_path: Path, certificate: Certificate) -> None:
    path = make(Prosody, tmp_path, certificate).write_config()
    done = subprocess.run(["luac5.4", "-p", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# -- ejabberd --------------------------------------------------------------------------------------------------


def ejabberd_config(tmp_path: Path, certificate: Certificate, require_tls: bool = True) -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(make(Ejabberd, tmp_path, certificate, require_tls).config_text())
    assert isinstance(config, dict)
    return config


def test_ejabberd_config_has_the_essential_settings(tmp_path: Path, certificate: Certificate) -> None:
    config = ejabberd_config(tmp_path, certificate)
    assert config["hosts"] == ["localhost"]
    assert config["loglevel"] == "warning"
    assert config["auth_password_format"] == "scram"
    assert config["auth_scram_hash"] == "sha"
    assert config["registration_timeout"] == "infinity"
    assert config["default_db"] == "mnesia"
    assert config["certfiles"] == [str(certificate.cert), str(certificate.key)]
    assert config["shaper_rules"]["max_user_offline_messages"] == 1000000  # type: ignore[index]
    assert config["max_fsm_queue"] == 1000000
    assert config["access_rules"]["register"] == {"allow": "all"}  # type: ignore[index]
    listeners = config["listen"]
    assert isinstance(listeners, list)
    assert [(item["port"], item["ip"]) for item in listeners] == [(16222, "127.0.0.1"), (16223, "127.0.0.1")]
    for item in listeners:
        assert item["module"] == "ejabberd_c2s"
        assert item["shaper"] == "none"
        assert item["backlog"] >= 128
    assert listeners[0]["starttls_required"] is True
    assert listeners[1]["tls"] is True
    modules = config["modules"]
    assert isinstance(modules, dict)
    assert modules["mod_register"] == {"ip_access": "all", "access": "register"}
    assert set(modules) >= {
        "mod_roster",
        "mod_offline",
        "mod_blocking",
        "mod_privacy",
        "mod_vcard",
        "mod_private",
        "mod_last",
        "mod_disco",
        "mod_ping",
        "mod_version",
        "mod_time",
        "mod_register",
    }


def test_ejabberd_without_required_starttls(tmp_path: Path, certificate: Certificate) -> None:
    listeners = ejabberd_config(tmp_path, certificate, require_tls=False)["listen"]
    assert isinstance(listeners, list)
    assert listeners[0]["starttls_required"] is False
    assert listeners[0]["starttls"] is True


def test_ejabberd_runs_on_one_scheduler_with_its_own_node_files_and_cookie(
    tmp_path: Path, certificate: Certificate
) -> None:
    server = make(Ejabberd, tmp_path, certificate)
    command = server.command()
    assert command[0] == "erl"
    assert command[command.index("+S") + 1] == "1:1"
    assert command[command.index("-sname") + 1] == "ejabberd-bench@localhost"
    assert command[command.index("-mnesia") + 2] == json.dumps(str(server.work_dir / "data"))
    assert command[-2:] == ["-s", "ejabberd"]
    assert "-noinput" in command
    env = server.environment()
    assert env["EJABBERD_CONFIG_PATH"] == str(server.config_path)
    assert env["EJABBERD_LOG_PATH"] == str(server.log_path)
    assert env["HOME"] == str(server.work_dir)
    assert server.main_process == "beam.smp"
    server.prepare()
    cookie = server.work_dir / ".erlang.cookie"
    assert stat.S_IMODE(cookie.stat().st_mode) == 0o400
    assert cookie.read_text().isalnum()


# -- the plan and the table ------------------------------------------------------------------------------------


def test_the_full_plan_runs_the_scenarios_in_a_fixed_order() -> None:
    plan = compare.Plan()
    steps = compare.build_steps(plan, compare.SCENARIOS, "xmppd", 19000)
    assert [step.name for step in steps] == [
        "register",
        "login",
        "idle-plain-1000",
        "idle-plain-10000",
        "idle-tls-1000",
        "idle-tls-10000",
        "idle-tls-many",
        "msg-window",
        "msg-rate",
        "presence",
        "offline",
    ]
    by_name = {step.name: step for step in steps}
    assert all(step.restart for step in steps if step.scenario == "idle")
    assert by_name["idle-plain-1000"].tls == "plain"
    assert by_name["idle-tls-many"].connections == 19000
    assert "--procs" in by_name["idle-tls-10000"].args
    assert by_name["msg-window"].restart
    assert not by_name["msg-rate"].restart
    assert by_name["msg-rate"].args[by_name["msg-rate"].args.index("--rate") + 1] == "2000"
    # Presence and offline get accounts of their own, after those that logins and idle sessions use.
    presence, offline = by_name["presence"].args, by_name["offline"].args
    assert presence[presence.index("--offset") + 1] == "19000"
    assert offline[offline.index("--offset") + 1] == str(19000 + plan.presence_users)
    register = by_name["register"].args
    assert register[register.index("--accounts") + 1] == str(
        19000 + plan.presence_users + 1 + plan.offline_recipients
    )
    # Only xmppd gets the many-sessions run.
    assert "idle-tls-many" not in [
        s.name for s in compare.build_steps(plan, compare.SCENARIOS, "prosody", 19000)
    ]


def test_the_accounts_of_each_scenario_do_not_overlap() -> None:
    plan = compare.Plan()
    presence_offset, offline_offset, accounts = compare.account_layout(plan, 0)
    assert presence_offset >= max(plan.logins, 2 * plan.pairs, *plan.idle_sizes)
    assert offline_offset >= presence_offset + plan.presence_users
    assert accounts == offline_offset + 1 + plan.offline_recipients
    steps = compare.build_steps(plan, ["offline"], "prosody", 19000)
    assert [step.name for step in steps] == ["register", "offline"]


def test_the_table_has_a_column_per_server_and_ratios_to_xmppd() -> None:
    plan = compare.Plan.quick()
    results: dict[str, dict[str, dict[str, Any]]] = {
        "xmppd": {"login": {"rate": 300.0, "latency_ms": {"p50": 2.0, "p99": 4.0}, "errors": 0}},
        "prosody": {"login": {"rate": 100.0, "latency_ms": {"p50": 4.0, "p99": 8.0}, "errors": 1}},
        "ejabberd": {"login": {"rate": 150.0, "errors": 0}},
    }
    table = compare.build_table(plan, ["xmppd", "prosody", "ejabberd"], results)
    rows = {row["id"]: row for row in table}
    assert rows["login_rate"]["ratios"] == {"xmppd/prosody": 3.0, "xmppd/ejabberd": 2.0}
    assert rows["login_p50"]["metric"] == "Login latency p50 (ms, lower is better)"
    assert rows["login_p50"]["ratios"] == {"xmppd/prosody": 0.5, "xmppd/ejabberd": None}
    assert rows["errors"]["values"] == {"xmppd": 0.0, "prosody": 1.0, "ejabberd": 0.0}
    # A metric no server has a value for is left out.
    assert "presence_rate" not in rows
    text = compare.format_table(["xmppd", "prosody", "ejabberd"], table)
    header = text.splitlines()[0].split()
    assert header == ["metric", "xmppd", "prosody", "ejabberd", "xmppd/prosody", "xmppd/ejabberd"]
    assert "3.00" in text


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks import plot  # noqa: PLC0415

    plan = compare.Plan.quick()
    results: dict[str, dict[str, dict[str, Any]]] = {
        "xmppd": {"msg-window": {"rate": 9000.0, "per_server_cpu_s": 9500.0, "errors": 0}},
        "prosody": {"msg-window": {"rate": 7000.0, "errors": 0}},
    }
    summary = {
        "plan": {"msg_rate": plan.msg_rate, "idle_sizes": list(plan.idle_sizes), "quick": True},
        "machine": {"cpu_model": "test"},
        "servers": {"xmppd": {"version": "0"}, "prosody": {"version": "0"}},
        "table": compare.build_table(plan, ["xmppd", "prosody"], results),
    }
    out = plot.plot(summary, tmp_path / "chart.png")
    assert out.read_bytes().startswith(b"\x89PNG")


def test_a_port_is_not_bindable_while_someone_listens_on_it() -> None:
    import socket  # noqa: PLC0415

    from benchmarks.servers.base import port_bindable, port_free  # noqa: PLC0415

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_bindable("127.0.0.1", port)
        assert not port_free("127.0.0.1", port)
    assert port_bindable("127.0.0.1", port)


def test_a_failed_start_shows_the_last_lines_of_the_logs(tmp_path: Path, certificate: Certificate) -> None:
    server = Xmppd(tmp_path, certificate)
    server.work_dir.mkdir(parents=True)
    server.console_path.write_text("".join(f"line {i}\n" for i in range(100)))
    logs = server.logs(lines=5)
    assert logs.endswith("line 95\nline 96\nline 97\nline 98\nline 99")
    assert "line 94" not in logs
