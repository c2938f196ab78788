"""Charts of a comparison run: one PNG with bar charts per server, from the ``summary.json`` of compare.py.

Panels: messages per second (closed loop), messages per server CPU-second (closed loop and at the fixed rate),
logins per second, message latency p50/p99 at the fixed rate, RSS per idle session, and presence deliveries
per second. A value a server has no result for is marked "n/a".

    python benchmarks/plot.py RESULTS/summary.json [--out chart.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLORS = {"xmppd": "#2b6cb0", "prosody": "#dd6b20", "ejabberd": "#38a169"}
FALLBACK_COLORS = ("#805ad5", "#d53f8c", "#718096")


def rows_by_id(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in summary.get("table", []) if "id" in row}


def panels(summary: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, [(bar group label, table row id), ...]) for each panel, from what the summary holds."""
    plan = summary.get("plan", {})
    rate = plan.get("msg_rate", "?")
    sizes = plan.get("idle_sizes", [])
    rss = [
        (f"{size} {tls}", f"rss_{key}_{size}")
        for key, tls in (("plain", "plain"), ("tls", "TLS"))
        for size in sizes
    ]
    return [
        ("Messages/s, closed loop", [("msgs/s", "msg_window_rate")]),
        (
            "Messages per server CPU-s",
            [("closed loop", "msg_window_per_cpu"), (f"at {rate}/s", "msg_rate_per_cpu")],
        ),
        ("Logins/s (SCRAM-SHA-1, STARTTLS)", [("logins/s", "login_rate"), ("per CPU-s", "login_per_cpu")]),
        (
            f"Message latency at {rate}/s (ms, lower is better)",
            [("p50", "msg_rate_p50"), ("p99", "msg_rate_p99")],
        ),
        ("RSS per idle session (bytes, lower is better)", rss),
        ("Presence deliveries/s", [("deliveries/s", "presence_rate"), ("per CPU-s", "presence_per_cpu")]),
    ]


def servers_of(summary: dict[str, Any]) -> list[str]:
    names = list(summary.get("servers", {})) or list(summary.get("results", {}))
    return names


def plot(summary: dict[str, Any], out: Path) -> Path:
    import matplotlib  # noqa: PLC0415 (only the plot needs it, and it is slow to import)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = rows_by_id(summary)
    servers = servers_of(summary)
    colors = {
        name: COLORS.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])
        for index, name in enumerate(servers)
    }
    chart_panels = panels(summary)
    columns = 3
    lines = (len(chart_panels) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(6 * columns, 4.2 * lines), squeeze=False)
    width = 0.8 / max(1, len(servers))
    for index, (title, groups) in enumerate(chart_panels):
        ax = axes[index // columns][index % columns]
        ax.set_title(title, fontsize=11)
        for position, name in enumerate(servers):
            xs, heights, labels = [], [], []
            for group_index, (_, row_id) in enumerate(groups):
                value = rows.get(row_id, {}).get("values", {}).get(name)
                xs.append(group_index + (position - (len(servers) - 1) / 2) * width)
                heights.append(value if isinstance(value, int | float) else 0.0)
                labels.append(_label(value))
            bars = ax.bar(xs, heights, width, label=name, color=colors[name])
            ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
        ax.set_xticks(range(len(groups)), [label for label, _ in groups], fontsize=9)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for index in range(len(chart_panels), lines * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncols=len(servers))
    figure.suptitle(_title(summary), fontsize=12, x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _label(value: object) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _title(summary: dict[str, Any]) -> str:
    machine = summary.get("machine", {})
    versions = ", ".join(
        f"{name} {info.get('version', '?')}" for name, info in summary.get("servers", {}).items() if info
    )
    quick = " (quick smoke test)" if summary.get("plan", {}).get("quick") else ""
    return (
        f"XMPP servers compared{quick}: {versions}\n"
        f"{machine.get('cpu_model', '?')}, server on core {machine.get('server_core', '?')}, "
        f"load generator on core {machine.get('loadgen_core', '?')}; kernel {machine.get('kernel', '?')}; "
        f"{machine.get('date', '')}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bar charts from the summary.json of benchmarks/compare.py.")
    parser.add_argument("summary", type=Path, help="summary.json of a comparison run")
    parser.add_argument("--out", type=Path, help="PNG file (default: comparison.png beside the summary)")
    args = parser.parse_args(argv)
    try:
        summary = json.loads(args.summary.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.summary}: {exc}", file=sys.stderr)
        return 1
    out = plot(summary, args.out or args.summary.with_name("comparison.png"))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
