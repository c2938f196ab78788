"""The ``xmppd`` command: serve, manage users, check and document the configuration.

Exit codes: 0 success; 1 the action failed (no such account, the server could not start, ``config check``
found problems); 2 the input was wrong (a bad configuration, JID or password; argparse uses 2 for bad
arguments too); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from xmppd import __version__, logs
from xmppd.accounts import create_account, set_password
from xmppd.config import LOG_LEVELS, Config, load_config, reference
from xmppd.errors import ConfigError, JIDError, StorageError
from xmppd.jid import JID
from xmppd.server import Server
from xmppd.storage import Storage, open_storage
from xmppd.storage.accounts import AccountExists

log = logging.getLogger("xmppd")

UserAction = Callable[[Config, Storage, argparse.Namespace], Awaitable[int]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"xmppd: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmppd", description="An XMPP server.")
    parser.add_argument("--version", action="version", version=f"xmppd {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the server until SIGTERM or Ctrl-C")
    _config_option(serve)
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="overrides server.log_level")
    serve.set_defaults(run=_serve)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        title="user commands", metavar="COMMAND", required=True
    )
    actions: list[tuple[str, str, str, UserAction]] = [
        ("add", "jid", "create an account (password from a prompt or one line of standard input)", _user_add),
        ("passwd", "jid", "change an account's password (read as for add)", _user_passwd),
        ("del", "jid", "delete an account and all its data", _user_del),
        ("list", "host", "list the accounts of a host (every host by default)", _user_list),
    ]
    for name, argument, help_text, action in actions:
        command = user.add_parser(name, help=help_text, description=help_text)
        if argument == "jid":
            command.add_argument("jid", help="the account's address: user@host")
        else:
            command.add_argument("host", nargs="?", help="one of server.hosts")
        _config_option(command)
        command.set_defaults(run=lambda args, action=action: _user(args, action))

    config = commands.add_parser("config", help="configuration tools").add_subparsers(
        title="config commands", metavar="COMMAND", required=True
    )
    check = config.add_parser("check", help="validate a configuration file and print every problem")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_config_check)
    docs = config.add_parser("docs", help="print the configuration reference: docs/configuration.md")
    docs.set_defaults(run=_config_docs)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, help="TOML configuration file (default: none, every default applies)"
    )


# -- serve ---------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    logs.setup(args.log_level or config.server.log_level)
    return _run_loop(_run_server(config))


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop when it is installed (the ``fast`` extra), else on asyncio's own loop."""
    try:
        import uvloop  # noqa: PLC0415 (an optional dependency)
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _run_server(config: Config) -> int:
    """Start, serve until SIGTERM or SIGINT, then stop gracefully (every stream gets system-shutdown)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Installed before starting, so that a signal during start-up still leads to a clean stop.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = Server(config)
    try:
        await server.start()
    except (OSError, StorageError, ConfigError) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for problem in problems:
            log.error("cannot start: %s", problem)
        with contextlib.suppress(Exception):
            await server.stop()
        return 2 if isinstance(exc, ConfigError) else 1
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    return 0


# -- user ----------------------------------------------------------------------------------------------------


def _user(args: argparse.Namespace, action: UserAction) -> int:
    config = load_config(args.config)
    return asyncio.run(_with_storage(config, args, action))


async def _with_storage(config: Config, args: argparse.Namespace, action: UserAction) -> int:
    if not config.server.storage:
        # The default SQLite database goes in the data directory, which holds keys: its owner only, as
        # ``Server.start`` creates it.
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        storage = await open_storage(config.storage_url)
    except StorageError as exc:
        _error(f"cannot open the storage: {exc}")
        return 1
    try:
        return await action(config, storage, args)
    except StorageError as exc:
        _error(f"storage: {exc}")
        return 1
    finally:
        await storage.close()


def _error(message: str) -> None:
    print(f"xmppd: {message}", file=sys.stderr)


def _account(config: Config, text: str) -> tuple[str, str] | None:
    """``(host, username)`` of the account address ``text``, or None after saying what is wrong with it."""
    try:
        jid = JID.parse(text)
    except JIDError as exc:
        _error(f"{text!r} is not a valid JID: {exc}")
        return None
    if jid.local is None or jid.resource is not None:
        _error(f"{text!r} is not an account address (user@host)")
        return None
    if not _is_served(config, jid.domain):
        return None
    return jid.domain, jid.local


def _is_served(config: Config, host: str) -> bool:
    if host in config.server.hosts:
        return True
    _error(f"{host!r} is not served here (server.hosts: {', '.join(config.server.hosts)})")
    return False


def _read_password() -> str:
    """One line of standard input when it is not a terminal; else a prompt, twice, without echo."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise ValueError("no password on standard input")
        return line.rstrip("\r\n")
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Again: ")
    except EOFError:
        raise ValueError("no password given") from None
    if again != password:
        raise ValueError("the passwords differ")
    return password


async def _user_add(config: Config, storage: Storage, args: argparse.Namespace) -> int:
    account = _account(config, args.jid)
    if account is None:
        return 2
    host, username = account
    try:
        await create_account(storage, host, username, _read_password(), config.auth.scram_iterations)
    except AccountExists:
        _error(f"{username}@{host} exists already")
        return 1
    except (ValueError, JIDError) as exc:
        _error(str(exc))
        return 2
    print(f"created {username}@{host}")
    return 0


async def _user_passwd(config: Config, storage: Storage, args: argparse.Namespace) -> int:
    account = _account(config, args.jid)
    if account is None:
        return 2
    host, username = account
    if await storage.accounts.get(host, username) is None:
        # Checked before asking, so that nobody types a password for nothing.
        _error(f"no account {username}@{host}")
        return 1
    try:
        changed = await set_password(storage, host, username, _read_password(), config.auth.scram_iterations)
    except (ValueError, JIDError) as exc:
        _error(str(exc))
        return 2
    if not changed:
        _error(f"no account {username}@{host}")
        return 1
    print(f"changed the password of {username}@{host}")
    return 0


async def _user_del(config: Config, storage: Storage, args: argparse.Namespace) -> int:
    """Delete through ``Host.delete_account``, the path in-band removal takes too.

    The hosts are composed with their modules as ``xmppd serve`` composes them, without listening, so that every
    module follows ``hooks.ACCOUNT_DELETED``: the roster module sends the contacts unsubscribe and unsubscribed,
    which updates the rosters of the contacts on this server in storage before the account's data is wiped.
    What a running server does not learn this way (a known limit until cluster messaging exists): its online
    contacts get no roster push or presence, its modules keep what they cached of the account, a session of the
    deleted account stays open until it ends, the rosters it keeps of the online contacts (the storage's roster
    cache) still list the account until those contacts' sessions end, so they keep sending it presence, and
    ``Host.account_exists`` takes the account for existing for up to ``KNOWN_ACCOUNT_TTL`` seconds more.
    """
    account = _account(config, args.jid)
    if account is None:
        return 2
    host, username = account
    server = Server(config)
    try:
        await server.load_hosts(storage)
        deleted = await server.hosts[host].delete_account(username)
    finally:
        await server.unload_hosts()
    if not deleted:
        _error(f"no account {username}@{host}")
        return 1
    print(f"deleted {username}@{host}")
    return 0


async def _user_list(config: Config, storage: Storage, args: argparse.Namespace) -> int:
    if args.host is not None and not _is_served(config, args.host):
        return 2
    hosts = [args.host] if args.host is not None else list(config.server.hosts)
    for host in hosts:
        for username in await storage.accounts.list(host):
            print(f"{username}@{host}")
    return 0


# -- config --------------------------------------------------------------------------------------------------


def _config_check(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{args.file}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


def _config_docs(args: argparse.Namespace) -> int:
    sys.stdout.write(reference())
    return 0
