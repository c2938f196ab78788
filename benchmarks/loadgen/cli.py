"""Command line: one subcommand per scenario; see __main__.py for the contract."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .basic import login, register
from .client import TLS_MODES, Settings
from .common import Context
from .idle import SetupImpossibleError, idle
from .msg import msg
from .offline import offline
from .presence import presence
from .runloop import loop_name, run_loop
from .scram import MECHANISMS, ScramCache

SCENARIOS = ("register", "login", "idle", "msg", "presence", "offline")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server and connections")
    group.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=5222, help="client port (default 5222)")
    group.add_argument("--domain", default="localhost", help="the XMPP domain (default localhost)")
    group.add_argument("--tls", choices=TLS_MODES, default="starttls", help="default starttls")
    group.add_argument("--mech", choices=MECHANISMS, default="SCRAM-SHA-1", help="default SCRAM-SHA-1")
    group.add_argument(
        "--server-pid",
        action="append",
        default=[],
        metavar="PID",
        help="server process whose CPU and memory to measure (repeatable, or a comma list)",
    )
    group.add_argument(
        "--source-addresses",
        default="",
        metavar="A,B,...",
        help="local addresses to connect from, round robin (e.g. 127.0.0.1,127.0.0.2)",
    )
    group.add_argument("--prefix", default="bench", help="account names are PREFIX<i> (default bench)")
    group.add_argument(
        "--scram-cache", type=Path, metavar="FILE", help="JSON file caching SCRAM salted passwords"
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, help="seconds for a login or request (default 30)"
    )
    group.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON to FILE")

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loadgen", description="XMPP load generator (see the module docstring)."
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")

    p = sub.add_parser("register", parents=[common], help="create accounts (XEP-0077)")
    p.add_argument("--accounts", type=_positive, required=True)
    p.add_argument("--concurrency", type=_positive, default=50)
    p.add_argument("--offset", type=int, default=0)

    p = sub.add_parser("login", parents=[common], help="full logins per second")
    p.add_argument("--logins", type=_positive, required=True)
    p.add_argument("--concurrency", type=_positive, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument(
        "--accounts", type=int, default=0, help="cycle over this many accounts (default: --logins)"
    )

    p = sub.add_parser("idle", parents=[common], help="server memory per idle session")
    p.add_argument("--sessions", type=_positive, required=True)
    p.add_argument("--concurrency", type=_positive, default=100)
    p.add_argument("--hold", type=_non_negative, default=0.0)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument(
        "--procs", type=_positive, default=1, help="generator processes to split the sessions over"
    )

    p = sub.add_parser("msg", parents=[common], help="one-to-one chat messages between pairs")
    p.add_argument("--pairs", type=_positive, required=True)
    p.add_argument("--duration", type=_non_negative, required=True)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--window", type=_positive, help="messages in flight per sender (the default mode: 10)")
    mode.add_argument("--rate", type=float, help="messages per second in all, paced")
    p.add_argument("--warmup", type=_non_negative, default=2.0)
    p.add_argument("--concurrency", type=_positive, default=50, help="logins at once during setup")
    p.add_argument("--offset", type=int, default=0)

    p = sub.add_parser("presence", parents=[common], help="presence broadcast to rosters")
    p.add_argument("--users", type=_positive, required=True)
    p.add_argument("--roster", type=_positive, required=True)
    p.add_argument("--duration", type=_non_negative, required=True)
    p.add_argument("--inflight", type=_positive, default=20, help="toggles in flight (default 20)")
    p.add_argument("--concurrency", type=_positive, default=50, help="logins at once during setup")
    p.add_argument("--offset", type=int, default=0)

    p = sub.add_parser("offline", parents=[common], help="offline message storage and delivery")
    p.add_argument("--recipients", type=_positive, required=True)
    p.add_argument("--messages", type=_positive, required=True)
    p.add_argument("--window", type=_positive, default=1000, help="messages sent before an unanswered ping")
    p.add_argument("--concurrency", type=_positive, default=50)
    p.add_argument("--offset", type=int, default=500000, help="the sender's account (recipients follow)")
    p.add_argument("--no-register", action="store_true", help="do not try to register the accounts first")
    return parser


def _pids(values: Sequence[str]) -> list[int]:
    return [int(part) for value in values for part in value.split(",") if part.strip()]


def run_scenario(args: argparse.Namespace, ctx: Context) -> dict[str, object]:
    name = args.scenario
    if name == "idle":
        return idle(ctx, args.sessions, args.concurrency, args.hold, args.offset, args.procs)
    if name == "register":
        return run_loop(register(ctx, args.accounts, args.concurrency, args.offset))
    if name == "login":
        return run_loop(login(ctx, args.logins, args.concurrency, args.offset, args.accounts))
    if name == "msg":
        window = args.window if args.window is not None or args.rate is not None else 10
        return run_loop(
            msg(ctx, args.pairs, args.duration, window, args.rate, args.warmup, args.concurrency, args.offset)
        )
    if name == "presence":
        return run_loop(
            presence(
                ctx, args.users, args.roster, args.duration, args.concurrency, args.inflight, args.offset
            )
        )
    if name == "offline":
        return run_loop(
            offline(
                ctx,
                args.recipients,
                args.messages,
                args.window,
                args.concurrency,
                args.offset,
                not args.no_register,
            )
        )
    raise ValueError(f"unknown scenario {name}")


def summary(result: dict[str, object]) -> str:
    """One line: the scenario, then every key but the error samples (nested dicts flattened)."""
    parts = [str(result.get("scenario"))]
    for key, value in result.items():
        if key in ("scenario", "error_samples"):
            continue
        if isinstance(value, dict):
            parts.extend(f"{key}.{k}={v}" for k, v in value.items())
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        pids = _pids(args.server_pid)
    except ValueError:
        print("--server-pid: not a process id", file=sys.stderr)
        return 2
    sources = [a.strip() for a in args.source_addresses.split(",") if a.strip()]
    cache = ScramCache()
    if args.scram_cache is not None:
        cache.load(args.scram_cache)
    settings = Settings(
        host=args.host,
        port=args.port,
        domain=args.domain,
        tls=args.tls,
        mech=args.mech,
        timeout=args.timeout,
        source_addresses=sources,
        prefix=args.prefix,
        scram_cache=cache,
    )
    ctx = Context(settings, pids)
    status = 0
    try:
        result = run_scenario(args, ctx)
    except SetupImpossibleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        ctx.errors.add(str(exc))
        result = {"scenario": args.scenario, "impossible": True}
        status = 2
    except Exception as exc:  # a bug, or something unforeseen: still report
        ctx.errors.add_exception("run", exc)
        result = {"scenario": args.scenario}
        status = 1
    finally:
        if args.scram_cache is not None:
            try:
                cache.save(args.scram_cache)
            except OSError as exc:
                print(f"warning: cannot save the SCRAM cache: {exc}", file=sys.stderr)
    result["errors"] = ctx.errors.count
    result["error_samples"] = ctx.errors.samples
    for key in ("gen_cpu_s", "gen_cpu_fraction", "server_cpu_s", "wall_s"):
        result.setdefault(key, None)
    result["event_loop"] = loop_name()
    result["tls"] = args.tls
    result["mech"] = args.mech
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    for sample in ctx.errors.samples:
        print(f"  error: {sample}", file=sys.stderr)
    return status
