"""The load generator's measurements: percentiles, error samples, /proc readings, the command line."""

from __future__ import annotations

import os

import pytest

from benchmarks.loadgen.cli import build_parser, summary
from benchmarks.loadgen.metrics import (
    MAX_ERROR_SAMPLES,
    ErrorLog,
    Window,
    latency_ms,
    per_cpu,
    percentiles,
    process_cpu,
    process_rss,
)
from benchmarks.loadgen.presence import groups_of


def test_percentiles_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentiles(values, (50, 90, 99)) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert percentiles([7], (50, 99)) == {"p50": 7, "p99": 7, "max": 7}
    assert percentiles([], (50,)) == {"p50": None, "max": None}
    assert percentiles([3, 1, 2], (0,)) == {"p0": 1, "max": 3}
    assert percentiles([5, 1, 4, 2, 3], (50,))["p50"] == 3


def test_latency_in_milliseconds() -> None:
    assert latency_ms([1_000_000, 2_500_000, 10_000_000], (50, 99)) == {"p50": 2.5, "p99": 10.0, "max": 10.0}


def test_error_log_keeps_a_few_samples() -> None:
    log = ErrorLog()
    for i in range(25):
        log.add(f"e{i}")
    log.add_exception("login", TimeoutError())
    assert log.count == 26
    assert log.samples == [f"e{i}" for i in range(MAX_ERROR_SAMPLES)]
    other = ErrorLog()
    other.add_exception("login", ValueError("bad"))
    other.merge(3, ["x", "y"])
    assert other.count == 4
    assert other.samples == ["login: ValueError: bad", "x", "y"]


def test_proc_readings_of_this_process() -> None:
    assert process_cpu(os.getpid()) >= 0
    assert process_rss(os.getpid()) > 1 << 20
    window = Window([os.getpid()])
    window.start()
    sum(i * i for i in range(200_000))
    window.stop()
    result = window.result()
    assert set(result) == {"gen_cpu_s", "gen_cpu_fraction", "server_cpu_s", "wall_s"}
    assert result["server_cpu_s"] is not None
    assert Window([]).server_cpu is None
    assert per_cpu(10, None) is None
    assert per_cpu(10, 0.0) is None
    assert per_cpu(10, 4.0) == 2.5


def test_groups() -> None:
    assert groups_of(6, 2) == [range(0, 3), range(3, 6)]
    assert groups_of(7, 2) == [range(0, 3), range(3, 6), range(6, 7)]


def test_command_line() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["msg", "--port", "5222", "--pairs", "3", "--duration", "5", "--rate", "100", "--server-pid", "1,2"]
    )
    assert (args.scenario, args.pairs, args.rate, args.window, args.warmup) == ("msg", 3, 100.0, None, 2.0)
    assert args.server_pid == ["1,2"]
    with pytest.raises(SystemExit):
        parser.parse_args(["msg", "--pairs", "1", "--duration", "1", "--rate", "5", "--window", "3"])
    args = parser.parse_args(
        ["idle", "--sessions", "10", "--procs", "2", "--tls", "direct", "--mech", "PLAIN"]
    )
    assert (args.sessions, args.procs, args.tls, args.mech, args.hold) == (10, 2, "direct", "PLAIN", 0.0)
    args = parser.parse_args(["offline", "--recipients", "2", "--messages", "10"])
    assert (args.offset, args.window, args.no_register) == (500000, 1000, False)


def test_summary_is_one_line() -> None:
    line = summary({"scenario": "login", "logins": 3, "latency_ms": {"p50": 1.0}, "error_samples": ["a\nb"]})
    assert line == "login logins=3 latency_ms.p50=1.0"
