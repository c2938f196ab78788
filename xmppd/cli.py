"""The ``xmppd`` command: serve, manage users, check the configuration."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from xmppd import __version__
from xmppd.config import Config, load_config, reference
from xmppd.errors import ConfigError, JIDError, StorageError
from xmppd.jid import JID

log = logging.getLogger("xmppd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"xmppd: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmppd", description="An XMPP server.")
    parser.add_argument("--version", action="version", version=f"xmppd {__version__}")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the server")
    _config_option(serve)
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="overrides the config"
    )
    serve.set_defaults(run=_serve)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(title="user commands")
    add = user.add_parser("add", help="create an account (password from a prompt or standard input)")
    add.add_argument("jid", help="user@host")
    _config_option(add)
    add.set_defaults(run=lambda a: _user(a, _user_add))
    passwd = user.add_parser("passwd", help="change an account's password")
    passwd.add_argument("jid")
    _config_option(passwd)
    passwd.set_defaults(run=lambda a: _user(a, _user_passwd))
    delete = user.add_parser("del", help="delete an account and all its data")
    delete.add_argument("jid")
    _config_option(delete)
    delete.set_defaults(run=lambda a: _user(a, _user_del))
    listing = user.add_parser("list", help="list the accounts of a host (all hosts by default)")
    listing.add_argument("host", nargs="?")
    _config_option(listing)
    listing.set_defaults(run=lambda a: _user(a, _user_list))

    config = commands.add_parser("config", help="configuration tools").add_subparsers(title="config commands")
    check = config.add_parser("check", help="validate a configuration file and print every problem")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_config_check)
    docs = config.add_parser("docs", help="print the configuration reference (Markdown)")
    docs.set_defaults(run=lambda a: print(reference(), end="") or 0)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, help="TOML configuration file (default: none, the defaults)"
    )


# -- serve -----------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from xmppd import logs

    config = load_config(args.config)
    logs.setup(args.log_level or config.server.log_level)
    try:
        import uvloop

        runner: Callable[[Awaitable[int]], int] = uvloop.run  # type: ignore[assignment]
    except ImportError:
        runner = asyncio.run
    return runner(_run_server(config))


async def _run_server(config: Config) -> int:
    from xmppd.server import Server

    server = Server(config)
    try:
        await server.start()
    except (OSError, StorageError) as exc:
        log.error("cannot start: %s", exc)
        with contextlib.suppress(Exception):
            await server.stop()
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    return 0


# -- user ------------------------------------------------------------------------------------------------------


def _user(args: argparse.Namespace, action: Callable[..., Awaitable[int]]) -> int:
    config = load_config(args.config)
    return asyncio.run(_with_storage(config, args, action))


async def _with_storage(
    config: Config, args: argparse.Namespace, action: Callable[..., Awaitable[int]]
) -> int:
    from xmppd.storage import open_storage

    config.data_dir.mkdir(parents=True, exist_ok=True)
    storage = await open_storage(config.storage_url)
    try:
        return await action(config, storage, args)
    finally:
        await storage.close()


def _account(config: Config, text: str) -> JID | None:
    try:
        jid = JID.parse(text)
    except JIDError as exc:
        print(f"xmppd: {text!r} is not a valid JID: {exc}", file=sys.stderr)
        return None
    if jid.local is None or jid.resource is not None:
        print(f"xmppd: {text!r} is not an account address (user@host)", file=sys.stderr)
        return None
    if jid.domain not in config.server.hosts:
        print(
            f"xmppd: {jid.domain!r} is not served here (server.hosts: {', '.join(config.server.hosts)})",
            file=sys.stderr,
        )
        return None
    return jid


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise ValueError("the passwords differ")
    return password


async def _user_add(config: Config, storage: object, args: argparse.Namespace) -> int:
    from xmppd.accounts import create_account
    from xmppd.storage import Storage
    from xmppd.storage.accounts import AccountExists

    assert isinstance(storage, Storage)
    jid = _account(config, args.jid)
    if jid is None or jid.local is None:
        return 2
    try:
        password = _read_password(confirm=True)
        await create_account(storage, jid.domain, jid.local, password, config.auth.scram_iterations)
    except AccountExists:
        print(f"xmppd: {jid} exists already", file=sys.stderr)
        return 1
    except (ValueError, JIDError) as exc:
        print(f"xmppd: {exc}", file=sys.stderr)
        return 2
    print(f"created {jid}")
    return 0


async def _user_passwd(config: Config, storage: object, args: argparse.Namespace) -> int:
    from xmppd.accounts import set_password
    from xmppd.storage import Storage

    assert isinstance(storage, Storage)
    jid = _account(config, args.jid)
    if jid is None or jid.local is None:
        return 2
    try:
        password = _read_password(confirm=True)
        changed = await set_password(storage, jid.domain, jid.local, password, config.auth.scram_iterations)
    except (ValueError, JIDError) as exc:
        print(f"xmppd: {exc}", file=sys.stderr)
        return 2
    if not changed:
        print(f"xmppd: no account {jid}", file=sys.stderr)
        return 1
    print(f"changed the password of {jid}")
    return 0


async def _user_del(config: Config, storage: object, args: argparse.Namespace) -> int:
    from xmppd.accounts import delete_account
    from xmppd.storage import Storage

    assert isinstance(storage, Storage)
    jid = _account(config, args.jid)
    if jid is None or jid.local is None:
        return 2
    if not await delete_account(storage, jid.domain, jid.local):
        print(f"xmppd: no account {jid}", file=sys.stderr)
        return 1
    print(f"deleted {jid}")
    return 0


async def _user_list(config: Config, storage: object, args: argparse.Namespace) -> int:
    from xmppd.storage import Storage

    assert isinstance(storage, Storage)
    hosts = [args.host] if args.host else list(config.server.hosts)
    for host in hosts:
        for username in await storage.accounts.list(host):
            print(f"{username}@{host}")
    return 0


# -- config ----------------------------------------------------------------------------------------------------


def _config_check(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        print(
            f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} in {args.file}",
            file=sys.stderr,
        )
        return 1
    print(f"{args.file}: OK")
    return 0
