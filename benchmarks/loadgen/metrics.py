"""What a scenario measures besides its own counts: CPU time (ours and the server's), server memory,
percentiles, and the errors it met."""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_ERROR_SAMPLES = 10


@dataclass
class ErrorLog:
    """Errors are counted, and the first few kept as samples; they never stop a run."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.samples) < MAX_ERROR_SAMPLES:
            self.samples.append(message)

    def add_exception(self, what: str, exc: BaseException) -> None:
        text = str(exc)
        self.add(f"{what}: {type(exc).__name__}{': ' + text if text else ''}")

    def merge(self, count: int, samples: Iterable[str]) -> None:
        self.count += count
        for sample in samples:
            if len(self.samples) >= MAX_ERROR_SAMPLES:
                break
            self.samples.append(sample)


def own_cpu() -> float:
    """User plus system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime of a process from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_rss(pid: int) -> int:
    """Resident set size of a process (VmRSS of /proc/PID/status), in bytes."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def process_nofile_limit(pid: int) -> int | None:
    """The soft RLIMIT_NOFILE of a process (from /proc/PID/limits), or None if unknown or unlimited."""
    try:
        with open(f"/proc/{pid}/limits", "rb") as f:
            for line in f:
                if line.startswith(b"Max open files"):
                    value = line.split()[3]
                    return int(value) if value.isdigit() else None
    except OSError:
        return None
    return None


def servers_cpu(pids: Sequence[int]) -> float | None:
    return sum(process_cpu(pid) for pid in pids) if pids else None


def servers_rss(pids: Sequence[int]) -> int | None:
    return sum(process_rss(pid) for pid in pids) if pids else None


class Window:
    """A measured window: wall time, our CPU time and the servers' CPU time between start() and stop()."""

    def __init__(self, server_pids: Sequence[int]) -> None:
        self.server_pids = list(server_pids)
        self._t0 = self._t1 = 0.0
        self._cpu0 = self._cpu1 = 0.0
        self._srv0: float | None = None
        self._srv1: float | None = None
        self.extra_gen_cpu = 0.0  # CPU seconds of other generator processes, added by the caller

    def start(self) -> None:
        self._srv0 = servers_cpu(self.server_pids)
        self._cpu0 = own_cpu()
        self._t0 = time.perf_counter()

    def stop(self, at: float | None = None) -> None:
        """End the window now, or its wall time at ``at`` (an earlier ``time.perf_counter()``; CPU is read now)."""
        self._t1 = time.perf_counter() if at is None else at
        self._cpu1 = own_cpu()
        self._srv1 = servers_cpu(self.server_pids)

    @property
    def started(self) -> float:
        return self._t0

    @property
    def wall(self) -> float:
        return self._t1 - self._t0

    @property
    def gen_cpu(self) -> float:
        return self._cpu1 - self._cpu0 + self.extra_gen_cpu

    @property
    def server_cpu(self) -> float | None:
        if self._srv0 is None or self._srv1 is None:
            return None
        return self._srv1 - self._srv0

    def result(self) -> dict[str, object]:
        """The common keys: gen_cpu_s, gen_cpu_fraction, server_cpu_s, wall_s."""
        wall = self.wall
        server = self.server_cpu
        return {
            "gen_cpu_s": round(self.gen_cpu, 4),
            "gen_cpu_fraction": round(self.gen_cpu / wall, 4) if wall > 0 else None,
            "server_cpu_s": round(server, 4) if server is not None else None,
            "wall_s": round(wall, 4),
        }


def per_cpu(count: int, cpu: float | None) -> float | None:
    """count / cpu seconds, or None without a measurement."""
    if cpu is None or cpu <= 0:
        return None
    return round(count / cpu, 2)


def percentiles(values: Sequence[float], quantiles: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles (plus the maximum) of the values, keyed p50, p99.9, max..."""
    ordered = sorted(values)
    n = len(ordered)
    out: dict[str, float | None] = {}
    for q in quantiles:
        key = f"p{q:g}"
        out[key] = ordered[max(0, math.ceil(q / 100 * n) - 1)] if n else None
    out["max"] = ordered[-1] if n else None
    return out


def latency_ms(values_ns: Sequence[int], quantiles: Sequence[float]) -> dict[str, float | None]:
    """Percentiles of nanosecond durations, in milliseconds (3 decimals)."""
    raw = percentiles(values_ns, quantiles)
    return {key: (round(value / 1e6, 3) if value is not None else None) for key, value in raw.items()}
