"""Compare xmppd with Prosody and ejabberd, side by side on this machine, in one run.

Each server in turn runs pinned to CPU core 0 (``taskset -c 0``) with a configuration written for the
benchmark (see ``benchmarks/servers/``), and the load generator (``python -m benchmarks.loadgen``) runs pinned
to core 1. For each server: start, register the accounts every scenario needs (in-band), then the scenarios in
a fixed order:

1. ``login``: SCRAM-SHA-1 logins over STARTTLS;
2. ``idle``: RSS per session with 1,000 and 10,000 idle sessions, unencrypted and over STARTTLS, each from a
   freshly started server (a clean RSS baseline); xmppd also holds as many TLS sessions as its file descriptor
   limit allows (the 'many sessions' check);
3. from a fresh start again: ``msg`` closed-loop (a window of messages in flight per sender) and open-loop at a
   fixed rate (latency), ``presence`` broadcast, and ``offline`` storage and delivery.

Every raw result is saved as JSON under ``--out`` (``SERVER/STEP.json``, with the generator's output in
``STEP.log``), with ``summary.json`` (the machine, the plan, every result and the comparison table), and the
table is printed: a row per metric, a column per server, and the ratios of xmppd to each other server.

    python benchmarks/compare.py [--servers xmppd,prosody,ejabberd] [--quick] [--scenarios login,idle,...]
                                 [--out DIR] [--port-offset N]

``benchmarks/plot.py`` draws charts from the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.servers import SERVERS, Certificate, Server, ServerError, ensure_certificate  # noqa: E402
from benchmarks.servers.base import command_output, raise_fd_limit  # noqa: E402
from benchmarks.servers.install import ensure_installed  # noqa: E402

SERVER_CORE = 0
LOADGEN_CORE = 1
MECHANISM = "SCRAM-SHA-1"
PASSWORD_NOTE = "accounts bench{i}@localhost, registered in-band by the load generator"
# Extra loopback addresses the generator binds to for its larger runs, so that no single source address runs
# out of ephemeral ports (or meets its own TIME_WAIT sockets) against one server port.
SOURCE_ADDRESSES = ",".join(f"127.0.0.{i}" for i in range(1, 9))
MANY_SOURCES_FROM = 4000
# File descriptors a server keeps for itself beyond its client sockets (listeners, storage, logs, pipes).
FD_RESERVE = 1000
# A server's RSS has settled after a start when SETTLE_SAMPLES samples SETTLE_INTERVAL s apart differ by at most
# SETTLE_TOLERANCE of it (within SETTLE_LIMIT s).
SETTLE_SAMPLES = 10
SETTLE_INTERVAL = 0.5
SETTLE_TOLERANCE = 0.001
SETTLE_LIMIT = 30.0
SCENARIOS = ("login", "idle", "msg-window", "msg-rate", "presence", "offline")


@dataclass(frozen=True)
class Plan:
    """The sizes of every scenario: the full default, or tiny ones for a smoke test (``--quick``)."""

    register_concurrency: int = 50
    logins: int = 2000
    login_concurrency: int = 50
    idle_sizes: tuple[int, ...] = (1000, 10000)
    idle_concurrency: int = 50
    # More than one generator process for the larger idle runs: each has its own file descriptor limit.
    idle_procs_from: int = 5000
    idle_procs: int = 2
    # xmppd only: as many TLS sessions as the server's descriptor limit allows (0: not run).
    many_sessions: bool = True
    many_sessions_cap: int = 100000
    pairs: int = 50
    window: int = 10
    msg_duration: float = 20.0
    msg_rate: int = 2000
    msg_warmup: float = 3.0
    presence_users: int = 200
    presence_roster: int = 20
    presence_duration: float = 15.0
    offline_recipients: int = 20
    offline_messages: int = 5000
    step_timeout: float = 1800.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            register_concurrency=10,
            logins=50,
            login_concurrency=10,
            idle_sizes=(20, 100),
            idle_concurrency=10,
            idle_procs_from=100,
            many_sessions=False,
            pairs=5,
            window=5,
            msg_duration=3.0,
            msg_rate=200,
            msg_warmup=1.0,
            presence_users=20,
            presence_roster=5,
            presence_duration=3.0,
            offline_recipients=3,
            offline_messages=100,
            step_timeout=300.0,
        )


@dataclass
class Step:
    """One run of the load generator against one server."""

    name: str
    scenario: str
    args: list[str]
    tls: str = "starttls"
    # Start the server afresh first (a clean RSS baseline).
    restart: bool = False
    connections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def require_tls(self) -> bool:
        return self.tls != "plain"


def idle_step_name(tls: str, size: int | None) -> str:
    """``idle-plain-1000``, ``idle-tls-10000``; ``idle-tls-many`` for the most sessions the server allows."""
    return f"idle-{'plain' if tls == 'plain' else 'tls'}-{size if size is not None else 'many'}"


def account_layout(plan: Plan, many_sessions: int) -> tuple[int, int, int]:
    """(presence offset, offline offset, accounts to register) for one server.

    Logins, idle sessions and message pairs use the accounts from bench0 on. The presence scenario fills the
    rosters of its users, and the offline scenario leaves its recipients with queues until they drain them:
    both get accounts of their own after all of those, so that no other scenario logs in an account with a
    roster or an offline queue (the presence users, then the offline sender and its recipients).
    """
    first_free = max(plan.logins, 2 * plan.pairs, *plan.idle_sizes, many_sessions)
    presence_offset = first_free
    offline_offset = presence_offset + plan.presence_users
    return presence_offset, offline_offset, offline_offset + 1 + plan.offline_recipients


def build_steps(plan: Plan, scenarios: Sequence[str], server: str, many_sessions: int) -> list[Step]:
    """The steps for one server, in the fixed order: registration first, always."""
    many = many_sessions if server == "xmppd" and plan.many_sessions else 0
    presence_offset, offline_offset, accounts = account_layout(plan, many)
    register_args = ["--accounts", str(accounts), "--concurrency", str(plan.register_concurrency)]
    steps: list[Step] = [Step("register", "register", register_args, connections=accounts)]
    if "login" in scenarios:
        steps.append(
            Step(
                "login", "login", ["--logins", str(plan.logins), "--concurrency", str(plan.login_concurrency)]
            )
        )
    if "idle" in scenarios:
        runs: list[tuple[str, int, str]] = [
            (tls, size, idle_step_name(tls, size))
            for tls in ("plain", "starttls")
            for size in plan.idle_sizes
        ]
        if many > max(plan.idle_sizes):
            runs.append(("starttls", many, idle_step_name("tls", None)))
        for tls, size, name in runs:
            args = ["--sessions", str(size), "--concurrency", str(plan.idle_concurrency)]
            if size >= plan.idle_procs_from:
                args += ["--procs", str(plan.idle_procs)]
            steps.append(Step(name, "idle", args, tls=tls, restart=True, connections=size))
    fresh = True
    for scenario in ("msg-window", "msg-rate", "presence", "offline"):
        if scenario not in scenarios:
            continue
        if scenario == "msg-window":
            args = ["--pairs", str(plan.pairs), "--duration", str(plan.msg_duration)]
            args += ["--window", str(plan.window), "--warmup", str(plan.msg_warmup)]
            step = Step("msg-window", "msg", args)
        elif scenario == "msg-rate":
            args = ["--pairs", str(plan.pairs), "--duration", str(plan.msg_duration)]
            args += ["--rate", str(plan.msg_rate), "--warmup", str(plan.msg_warmup)]
            step = Step("msg-rate", "msg", args)
        elif scenario == "presence":
            args = ["--users", str(plan.presence_users), "--roster", str(plan.presence_roster)]
            args += ["--duration", str(plan.presence_duration), "--offset", str(presence_offset)]
            step = Step("presence", "presence", args)
        else:
            args = ["--recipients", str(plan.offline_recipients), "--messages", str(plan.offline_messages)]
            args += ["--offset", str(offline_offset)]
            step = Step("offline", "offline", args)
        # The first of these starts from a fresh server when idle runs came before.
        step.restart = fresh and "idle" in scenarios
        fresh = False
        steps.append(step)
    return steps


# -- the comparison table ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One row of the table: a value read from one step's result (``key`` is a dotted path)."""

    id: str
    label: str
    step: str
    key: str
    unit: str = ""
    lower_is_better: bool = False

    @property
    def row_name(self) -> str:
        notes = [self.unit] if self.unit else []
        if self.lower_is_better:
            notes.append("lower is better")
        return f"{self.label} ({', '.join(notes)})" if notes else self.label


def metrics(plan: Plan) -> list[Metric]:
    """The rows of the table, in order."""
    rate = plan.msg_rate
    low = True
    rows = [
        Metric("login_rate", "Logins/s, SCRAM-SHA-1 over STARTTLS", "login", "rate"),
        Metric("login_p50", "Login latency p50", "login", "latency_ms.p50", "ms", low),
        Metric("login_p99", "Login latency p99", "login", "latency_ms.p99", "ms", low),
        Metric("login_per_cpu", "Logins per server CPU-s", "login", "logins_per_server_cpu_s"),
        Metric("msg_window_rate", f"Msgs/s, closed loop (window {plan.window})", "msg-window", "rate"),
        Metric("msg_window_per_cpu", "Msgs per server CPU-s, closed loop", "msg-window", "per_server_cpu_s"),
        Metric("msg_window_p50", "Latency p50, closed loop", "msg-window", "latency_ms.p50", "ms", low),
        Metric("msg_window_p99", "Latency p99, closed loop", "msg-window", "latency_ms.p99", "ms", low),
        Metric("msg_rate_rate", f"Msgs/s delivered at {rate}/s offered", "msg-rate", "rate"),
        Metric("msg_rate_per_cpu", f"Msgs per server CPU-s at {rate}/s", "msg-rate", "per_server_cpu_s"),
        Metric("msg_rate_p50", f"Latency p50 at {rate}/s", "msg-rate", "latency_ms.p50", "ms", low),
        Metric("msg_rate_p90", f"Latency p90 at {rate}/s", "msg-rate", "latency_ms.p90", "ms", low),
        Metric("msg_rate_p99", f"Latency p99 at {rate}/s", "msg-rate", "latency_ms.p99", "ms", low),
        Metric("msg_rate_max", f"Latency max at {rate}/s", "msg-rate", "latency_ms.max", "ms", low),
        Metric("msg_rate_lost", f"Msgs lost at {rate}/s", "msg-rate", "lost", "count", low),
        Metric("presence_rate", "Presence deliveries/s", "presence", "rate"),
        Metric("presence_per_cpu", "Presence deliveries per server CPU-s", "presence", "per_server_cpu_s"),
        Metric("offline_stored", "Offline msgs stored/s", "offline", "stored_rate"),
        Metric("offline_backlog_rate", "Offline backlog delivered/s", "offline", "backlog_rate"),
        Metric("offline_backlog_s", "Offline backlog delivery time", "offline", "backlog_s", "s", low),
    ]
    for tls in ("plain", "tls"):
        what = "TLS" if tls == "tls" else "plain"
        for size in plan.idle_sizes:
            step = idle_step_name(tls, size)
            rows.append(
                Metric(
                    f"rss_{tls}_{size}",
                    f"RSS per session, {size} {what}",
                    step,
                    "rss_per_session",
                    "bytes",
                    low,
                )
            )
    big = max(plan.idle_sizes)
    rows.append(
        Metric(
            f"setup_tls_{big}",
            f"Setup of {big} TLS sessions",
            idle_step_name("tls", big),
            "setup_s",
            "s",
            low,
        )
    )
    many = idle_step_name("tls", None)
    rows.append(Metric("many_sessions", "Many TLS sessions held", many, "sessions", "count"))
    rows.append(Metric("many_rss", "RSS per session, many TLS", many, "rss_per_session", "bytes", low))
    return rows


def lookup(result: dict[str, Any] | None, key: str) -> float | None:
    value: Any = result
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def build_table(
    plan: Plan, servers: Sequence[str], results: dict[str, dict[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    others = [name for name in servers if name != "xmppd"]
    table: list[dict[str, Any]] = []
    for metric in metrics(plan):
        values = {name: lookup(results.get(name, {}).get(metric.step), metric.key) for name in servers}
        if all(value is None for value in values.values()):
            continue
        row: dict[str, Any] = {
            "id": metric.id,
            "metric": metric.row_name,
            "lower_is_better": metric.lower_is_better,
            "values": values,
        }
        if "xmppd" in servers:
            row["ratios"] = {f"xmppd/{other}": ratio(values["xmppd"], values[other]) for other in others}
        table.append(row)
    errors = {
        name: float(sum(r.get("errors", 0) or 0 for r in results.get(name, {}).values())) for name in servers
    }
    row = {"id": "errors", "metric": "Errors, all steps (count, lower is better)", "lower_is_better": True}
    row["values"] = errors
    if "xmppd" in servers:
        row["ratios"] = {f"xmppd/{other}": ratio(errors["xmppd"], errors[other]) for other in others}
    table.append(row)
    return table


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_table(servers: Sequence[str], table: Sequence[dict[str, Any]]) -> str:
    ratio_names = [name for name in (f"xmppd/{s}" for s in servers if s != "xmppd") if "xmppd" in servers]
    header = ["metric", *servers, *ratio_names]
    lines = []
    for row in table:
        ratios = row.get("ratios", {})
        cells = [row["metric"], *(fmt(row["values"].get(s)) for s in servers)]
        cells += [("-" if ratios.get(r) is None else f"{ratios[r]:.2f}") for r in ratio_names]
        lines.append(cells)
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join(
            [first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))]
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(cells) for cells in lines)])


# -- the machine -------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_fd_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    otp = command_output(
        ["erl", "-noshell", "-eval", 'io:format("~s", [erlang:system_info(otp_release)]), halt().']
    )
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "uvloop": package_version("uvloop"),
        "erlang_otp": otp or None,
        "lua": command_output(["lua5.4", "-v"]) or None,
        "fd_limit_before": list(before),
        "fd_limit": [soft, hard],
        "fd_limit_note": (
            f"soft limit set to the hard limit, {hard}; raising the hard limit failed (needs CAP_SYS_RESOURCE)"
            if hard == before[1] and hard != resource.RLIM_INFINITY
            else "hard limit raised"
        ),
        "fs_nr_open": _read_int("/proc/sys/fs/nr_open"),
        "server_core": SERVER_CORE,
        "loadgen_core": LOADGEN_CORE,
        "somaxconn": _read_int("/proc/sys/net/core/somaxconn"),
        "ip_local_port_range": _read_text("/proc/sys/net/ipv4/ip_local_port_range"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def _read_text(path: str) -> str | None:
    try:
        return " ".join(Path(path).read_text().split())
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read_text(path)
    return int(text) if text and text.isdigit() else None


def rss_bytes(pids: Sequence[int]) -> int | None:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total or None


# -- running -------------------------------------------------------------------------------------------------------


def run_loadgen(command: list[str], env: dict[str, str], log: IO[bytes], timeout: float) -> int | None:
    """Run the load generator; its exit code, or None when it ran out of time and was stopped.

    It runs in a process group of its own, which is ended afterwards in any case (a timeout, the runner
    interrupted): the generator's worker processes do not outlive it.
    """
    raise_fd_limit()  # inherited
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    code: int | None = None
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        end_group(process)
    return code


def end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``process``, then SIGKILL whatever is left of it after a few seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def settle(server: Server, limit: float = SETTLE_LIMIT) -> tuple[float, int | None]:
    """Wait until the server's RSS after a start stops changing: the baseline of an idle-sessions run.

    ejabberd, for one, gives back about 12 MB in its first ten seconds; measured from the start, its memory
    per session would come out too low, even negative. Returns the seconds waited and the RSS then.
    """
    started = time.monotonic()
    samples: list[int] = []
    while time.monotonic() - started < limit:
        rss = rss_bytes(server.pids())
        if rss is None:
            break
        samples.append(rss)
        window = samples[-SETTLE_SAMPLES:]
        if len(window) == SETTLE_SAMPLES and max(window) - min(window) <= SETTLE_TOLERANCE * max(window):
            break
        time.sleep(SETTLE_INTERVAL)
    return round(time.monotonic() - started, 3), samples[-1] if samples else None


class Runner:
    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        self.args = args
        self.plan = plan
        self.out: Path = args.out
        self.pin = (os.cpu_count() or 1) >= 2
        if not self.pin:
            self.say("fewer than 2 CPU cores: the server and the load generator are not pinned")

    @staticmethod
    def say(text: str) -> None:
        print(text, flush=True)

    def loadgen_command(self, server: Server, step: Step, json_path: Path) -> list[str]:
        port = server.direct_tls_port if step.tls == "direct" and server.direct_tls_port else server.port
        command = [sys.executable, "-m", self.args.loadgen_module, step.scenario]
        command += ["--host", server.host, "--port", str(port), "--domain", server.domain]
        command += ["--tls", step.tls, "--mech", MECHANISM, "--server-pid", ",".join(map(str, server.pids()))]
        command += ["--json", str(json_path), "--scram-cache", str(server.scram_cache_path)]
        if step.connections >= MANY_SOURCES_FROM:
            command += ["--source-addresses", SOURCE_ADDRESSES]
        command += step.args
        if self.pin:
            command = ["taskset", "-c", str(LOADGEN_CORE), *command]
        return command

    def ensure_started(self, server: Server, step: Step) -> dict[str, Any]:
        """Start (or restart) the server as the step needs; what the runner saw of the start."""
        if server.running and not step.restart and server.require_tls == step.require_tls:
            return {}
        if server.running:
            server.stop()
        server.require_tls = step.require_tls
        started = time.monotonic()
        server.start()
        seen: dict[str, Any] = {"start_s": round(time.monotonic() - started, 3)}
        if step.scenario == "idle":
            seen["settle_s"], seen["settled_rss"] = settle(server)
        return seen

    def run_step(self, server: Server, step: Step) -> dict[str, Any]:
        """Run one step; its result (the generator's JSON) with what the runner saw, or an error record."""
        directory = self.out / server.name
        directory.mkdir(parents=True, exist_ok=True)
        json_path, log_path = directory / f"{step.name}.json", directory / f"{step.name}.log"
        json_path.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            start = self.ensure_started(server, step)
        except ServerError as exc:
            return {"scenario": step.scenario, "failed": f"server did not start: {exc}", "errors": 1}
        command = self.loadgen_command(server, step, json_path)
        runner: dict[str, Any] = {
            **start,
            "command": command[command.index("-m") :],
            "server_pids": server.pids(),
            "server_all_pids": server.all_pids(),
            "server_rss_before": rss_bytes(server.pids()),
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with log_path.open("wb") as log:
            code = run_loadgen(command, env, log, self.plan.step_timeout)
        runner["elapsed_s"] = round(time.monotonic() - started, 3)
        runner["server_rss_after"] = rss_bytes(server.pids())
        runner["loadgen_exit"] = code
        runner["server_alive"] = server.running
        result: dict[str, Any]
        try:
            result = json.loads(json_path.read_text())
        except (OSError, ValueError):
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            why = "timed out" if code is None else f"exited with {code}"
            result = {
                "scenario": step.scenario,
                "failed": f"load generator {why}: " + "\n".join(tail),
                "errors": 1,
            }
        if not server.running:
            result["failed"] = f"the server died during {step.name}\n{server.logs()}"
            result["errors"] = (result.get("errors") or 0) + 1
        result["runner"] = runner
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        return result

    def run_server(
        self, name: str, certificate: Certificate, info: dict[str, Any], results: dict[str, dict[str, Any]]
    ) -> None:
        """Run every step against one server; ``info`` and ``results`` are filled as it goes."""
        info["name"] = name
        core = SERVER_CORE if self.pin else None
        try:
            server = SERVERS[name](self.args.work, certificate, core, self.args.port_offset)
        except ServerError as exc:
            info["failed"] = str(exc)
            self.say(f"[{name}] {exc}")
            return
        try:
            if not self.args.keep_data:
                server.reset()
            server.require_tls = True
            server.start()
            info.update(server.description())
            limits = server.fd_limits()
            info["fd_limits"] = list(limits) if limits else None
            info["pids"] = server.pids()
            info["all_pids"] = server.all_pids()
            info["config"] = server.config_text()
            many = 0
            if limits:
                many = min(self.plan.many_sessions_cap, (limits[0] - FD_RESERVE) // 1000 * 1000)
            info["many_sessions"] = many
            for step in build_steps(self.plan, self.args.scenarios, name, many):
                self.say(f"[{name}] {step.name}: {step.scenario} {' '.join(step.args)} ({step.tls})")
                result = self.run_step(server, step)
                results[step.name] = result
                self.say(f"[{name}] {step.name}: {summarize(result)}")
                if step.scenario == "register" and not registered(result):
                    info["failed"] = (
                        "registration failed: no account to log in with, the other steps are skipped"
                    )
                    self.say(f"[{name}] {info['failed']}")
                    break
        except ServerError as exc:
            info["failed"] = str(exc)
            self.say(f"[{name}] {exc}")
        finally:
            info["exit_code"] = server.stop()


def registered(result: dict[str, Any]) -> bool:
    """True when the register step left accounts to use (created now, or existing from an earlier run)."""
    if "failed" in result:
        return False
    return (lookup(result, "created") or 0) + (lookup(result, "existed") or 0) > 0


def summarize(result: dict[str, Any]) -> str:
    if "failed" in result:
        return "FAILED: " + str(result["failed"]).splitlines()[0]
    keys = ("created", "existed", "rate", "sessions", "rss_per_session", "delivered", "lost", "stored_rate")
    parts = [f"{key}={fmt(lookup(result, key))}" for key in keys if lookup(result, key) is not None]
    p50, p99 = lookup(result, "latency_ms.p50"), lookup(result, "latency_ms.p99")
    if p50 is not None:
        parts.append(f"p50={fmt(p50)}ms p99={fmt(p99)}ms")
    parts.append(f"errors={result.get('errors', '?')}")
    return " ".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--servers", default="xmppd,prosody,ejabberd", help="comma-separated (default: all three)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny numbers: a smoke test of the whole chain")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, among {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--out", type=Path, help="result directory (default: benchmarks/results/compare-DATE)"
    )
    parser.add_argument(
        "--work", type=Path, default=ROOT / "benchmarks" / ".work", help="the servers' work directories"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the accounts of an earlier run")
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="add N to every server port (xmppd 25222/25223, Prosody 15222/15223, ejabberd 16222/16223 and "
        "16299); each must stay within 1024-32767",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when any step had errors or lost messages (the CI smoke run); never judges times",
    )
    parser.add_argument("--loadgen-module", default="benchmarks.loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in args.servers if name not in SERVERS]
    if unknown:
        parser.error(f"unknown servers: {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        args.out = ROOT / "benchmarks" / "results" / f"compare-{'quick-' if args.quick else ''}{stamp}"
    return args


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"{label} took {time.monotonic() - started:.0f} s", flush=True)


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM as Ctrl-C: the servers and the load generator are stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    plan = Plan.quick() if args.quick else Plan()
    missing = ensure_installed(args.servers)
    servers = [name for name in args.servers if name not in missing]
    if not servers:
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    certificate = ensure_certificate(args.work / "tls")
    runner = Runner(args, plan)
    summary: dict[str, Any] = {
        "machine": machine_info(),
        "plan": {**asdict(plan), "quick": args.quick, "scenarios": args.scenarios, "mechanism": MECHANISM},
        "accounts": PASSWORD_NOTE,
        "servers": {},
        "results": {},
        "skipped": missing,
    }
    summary_path = args.out / "summary.json"
    interrupted = False
    try:
        with timed("the comparison"):
            for name in servers:
                info = summary["servers"].setdefault(name, {})
                results = summary["results"].setdefault(name, {})
                try:
                    with timed(name):
                        runner.run_server(name, certificate, info, results)
                finally:
                    summary["table"] = build_table(plan, servers, summary["results"])
                    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    except KeyboardInterrupt:
        interrupted = True
        summary["interrupted"] = True
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        print("\ninterrupted: the servers are stopped; the results so far are kept")
    servers = [name for name in servers if name in summary["servers"]]
    print()
    print(format_table(servers, summary.get("table", [])))
    print(f"\nresults: {args.out}")
    failed = [
        f"{name}/{step}"
        for name in servers
        for step, result in summary["results"][name].items()
        if "failed" in result
    ]
    failed += [name for name in servers if "failed" in summary["servers"].get(name, {})]
    if args.check:
        failed += [
            f"{name}/{step} (errors={result.get('errors')}, lost={result.get('lost')})"
            for name in servers
            for step, result in summary["results"][name].items()
            if (result.get("errors") or 0) > 0 or (result.get("lost") or 0) > 0
        ]
    if failed:
        print(f"failed: {', '.join(failed)}")
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
