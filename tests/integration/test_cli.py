"""The real ``xmppd`` command, run as a subprocess (``python -m xmppd``) in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import slixmpp
from cryptography import x509

from tests.integration.conftest import free_port
from xmppd.config import reference
from xmppd.sasl.scram import derive_keys
from xmppd.storage import open_storage
from xmppd.storage.roster import RosterItem

ROOT = Path(__file__).resolve().parents[2]
STREAM_HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xml:lang='en'"
    b" xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)
SYSTEM_SHUTDOWN = (
    b"<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    b"</stream:stream>"
)
# "2026-01-31 12:00:00 INFO    xmppd.server: message"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: \S")


def run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``xmppd ARGS`` in ``cwd``, with ``stdin`` as standard input (none at all when None)."""
    return subprocess.run(
        [sys.executable, "-m", "xmppd", *args],
        cwd=cwd,
        env=_env(),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env() -> dict[str, str]:
    # The subprocess runs this working tree, whatever is installed.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


async def stored_password_is(database: Path, jid: str, password: str) -> bool:
    """Whether the SCRAM keys stored for ``jid`` are those of ``password``, for every hash."""
    username, host = jid.split("@")
    async with await open_storage(f"sqlite:///{database}") as storage:
        account = await storage.accounts.get(host, username)
    assert account is not None, f"no account {jid}"
    assert {keys.hash_name for keys in account.keys} == {"sha1", "sha256"}
    return all(
        derive_keys(password, keys.hash_name, keys.iterations, keys.salt) == keys for keys in account.keys
    )


# -- user ----------------------------------------------------------------------------------------------------


async def test_user_add_reads_the_password_from_stdin_then_list_shows_it(tmp_path: Path) -> None:
    added = run(tmp_path, "user", "add", "alice@localhost", stdin="correct horse\n")
    assert (added.returncode, added.stdout, added.stderr) == (0, "created alice@localhost\n", "")
    listed = run(tmp_path, "user", "list")
    assert (listed.returncode, listed.stdout) == (0, "alice@localhost\n")
    assert run(tmp_path, "user", "list", "localhost").stdout == "alice@localhost\n"
    data = tmp_path / "xmppd-data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert await stored_password_is(data / "xmppd.db", "alice@localhost", "correct horse")


async def test_user_passwd_replaces_the_keys(tmp_path: Path) -> None:
    assert run(tmp_path, "user", "add", "alice@localhost", stdin="old password\n").returncode == 0
    changed = run(tmp_path, "user", "passwd", "alice@localhost", stdin="new password\n")
    assert (changed.returncode, changed.stdout) == (0, "changed the password of alice@localhost\n")
    database = tmp_path / "xmppd-data" / "xmppd.db"
    assert await stored_password_is(database, "alice@localhost", "new password")
    assert not await stored_password_is(database, "alice@localhost", "old password")


def test_user_del_removes_the_account(tmp_path: Path) -> None:
    for name in ("alice", "bob"):
        assert run(tmp_path, "user", "add", f"{name}@localhost", stdin="secret\n").returncode == 0
    assert run(tmp_path, "user", "list").stdout == "alice@localhost\nbob@localhost\n"
    deleted = run(tmp_path, "user", "del", "bob@localhost")
    assert (deleted.returncode, deleted.stdout) == (0, "deleted bob@localhost\n")
    assert run(tmp_path, "user", "list").stdout == "alice@localhost\n"
    again = run(tmp_path, "user", "del", "bob@localhost")
    assert (again.returncode, again.stderr) == (1, "xmppd: no account bob@localhost\n")


async def test_user_del_unsubscribes_the_contacts(tmp_path: Path) -> None:
    # The modules run as in a server (Host.delete_account): the contacts' rosters follow, the user's data goes.
    for name in ("alice", "bob"):
        assert run(tmp_path, "user", "add", f"{name}@localhost", stdin="secret\n").returncode == 0
    database = f"sqlite:///{tmp_path / 'xmppd-data' / 'xmppd.db'}"
    async with await open_storage(database) as storage:
        await storage.roster.put_item("localhost", "alice", RosterItem("bob@localhost", subscription="both"))
        await storage.roster.put_item("localhost", "bob", RosterItem("alice@localhost", subscription="both"))
    assert run(tmp_path, "user", "del", "bob@localhost").returncode == 0
    async with await open_storage(database) as storage:
        item = await storage.roster.get_item("localhost", "alice", "bob@localhost")
        assert item is not None and item.subscription == "none"
        assert (await storage.roster.get_roster("localhost", "bob")).items == ()


def test_user_add_an_existing_account_fails(tmp_path: Path) -> None:
    assert run(tmp_path, "user", "add", "alice@localhost", stdin="secret\n").returncode == 0
    again = run(tmp_path, "user", "add", "alice@localhost", stdin="other\n")
    assert (again.returncode, again.stderr) == (1, "xmppd: alice@localhost exists already\n")


def test_user_passwd_of_an_unknown_account_fails_without_asking(tmp_path: Path) -> None:
    result = run(tmp_path, "user", "passwd", "nobody@localhost")
    assert (result.returncode, result.stderr) == (1, "xmppd: no account nobody@localhost\n")


@pytest.mark.parametrize(
    ("jid", "message"),
    [
        ("alice@@localhost", "xmppd: 'alice@@localhost' is not a valid JID: "),
        ("al ice@localhost", "xmppd: 'al ice@localhost' is not a valid JID: "),
        ("localhost", "xmppd: 'localhost' is not an account address (user@host)"),
        ("alice@localhost/phone", "xmppd: 'alice@localhost/phone' is not an account address (user@host)"),
        ("alice@example.org", "xmppd: 'example.org' is not served here (server.hosts: localhost)"),
    ],
)
def test_user_add_refuses_a_bad_address(tmp_path: Path, jid: str, message: str) -> None:
    result = run(tmp_path, "user", "add", jid, stdin="secret\n")
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert result.stdout == ""
    assert run(tmp_path, "user", "list").stdout == ""


def test_user_list_of_a_host_not_served(tmp_path: Path) -> None:
    result = run(tmp_path, "user", "list", "example.org")
    assert (result.returncode, result.stderr) == (
        2,
        "xmppd: 'example.org' is not served here (server.hosts: localhost)\n",
    )


@pytest.mark.parametrize(
    ("stdin", "message"), [(None, "no password on standard input"), ("\n", "the password is empty")]
)
def test_user_add_without_a_password_fails(tmp_path: Path, stdin: str | None, message: str) -> None:
    result = run(tmp_path, "user", "add", "alice@localhost", stdin=stdin)
    assert (result.returncode, result.stderr) == (2, f"xmppd: {message}\n")
    assert run(tmp_path, "user", "list").stdout == ""


def test_the_password_is_never_an_argument(tmp_path: Path) -> None:
    result = run(tmp_path, "user", "add", "alice@localhost", "secret")
    assert result.returncode == 2
    assert "unrecognized arguments: secret" in result.stderr


def test_user_commands_use_the_configured_hosts_and_data_dir(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "xmppd.toml"
    config.write_text('[server]\nhosts = ["example.org"]\ndata_dir = "../var"\n')
    added = run(tmp_path, "user", "add", "--config", str(config), "alice@example.org", stdin="secret\n")
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "var" / "xmppd.db").is_file()
    assert not (tmp_path / "xmppd-data").exists()
    assert run(tmp_path, "user", "list", "-c", str(config)).stdout == "alice@example.org\n"
    assert run(tmp_path, "user", "add", "-c", str(config), "bob@localhost", stdin="x\n").returncode == 2


def test_user_commands_refuse_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "xmppd.toml"
    config.write_text("[server]\nhost = 1\n")
    result = run(tmp_path, "user", "list", "--config", str(config))
    assert (result.returncode, result.stderr) == (
        2,
        "xmppd: server.host: unknown key; did you mean 'server.hosts'?\n",
    )
    assert not (tmp_path / "xmppd-data").exists()


# -- config --------------------------------------------------------------------------------------------------


def test_config_check_accepts_a_good_file(tmp_path: Path) -> None:
    config = tmp_path / "xmppd.toml"
    config.write_text(
        '[server]\nhosts = ["example.org"]\n[c2s]\ninterfaces = ["0.0.0.0"]\nport = 5222\n'
        "[modules.ping]\ninterval = 60.0\n"
    )
    result = run(tmp_path, "config", "check", str(config))
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{config}: OK\n", "")


def test_config_check_prints_every_problem_with_its_key(tmp_path: Path) -> None:
    config = tmp_path / "xmppd.toml"
    config.write_text(
        '[sever]\n[server]\nlog_level = "loud"\n[c2s]\nprot = 5222\ndirect_tls_port = 70000\n'
        '[tls]\ncertificate = "cert.pem"\n'
    )
    result = run(tmp_path, "config", "check", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "sever: unknown section; did you mean 'server'?",
        'server.log_level: must be one of "debug", "info", "warning", "error", got "loud"',
        "c2s.prot: unknown key; did you mean 'c2s.port'?",
        "c2s.direct_tls_port: must be between 0 and 65535, got 70000",
        "tls.key: required when tls.certificate is set",
    ]
    assert result.stderr == f"{config}: 5 problems\n"


def test_config_check_on_a_file_that_is_not_toml(tmp_path: Path) -> None:
    config = tmp_path / "xmppd.toml"
    config.write_text("[c2s\n")
    result = run(tmp_path, "config", "check", str(config))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{config}: not valid TOML: ")
    missing = run(tmp_path, "config", "check", "missing.toml")
    assert (missing.returncode, missing.stdout) == (1, "missing.toml: No such file or directory\n")


def test_config_docs_prints_the_reference(tmp_path: Path) -> None:
    result = run(tmp_path, "config", "docs")
    assert result.returncode == 0
    assert result.stdout == reference()
    assert result.stdout == (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


# -- serve ---------------------------------------------------------------------------------------------------


class Served:
    """An ``xmppd serve`` subprocess, its log on standard error, and the ports it listens on."""

    def __init__(self, cwd: Path, *args: str, log_level: str = "info") -> None:
        self.cwd = cwd
        self.port, self.direct_tls_port = free_port(), free_port()
        self.config = cwd / "xmppd.toml"
        self.config.write_text(
            f'[server]\nlog_level = "{log_level}"\n'
            f"[c2s]\nport = {self.port}\ndirect_tls_port = {self.direct_tls_port}\n"
            "[auth]\nfailure_delay = 0.0\n"
        )
        self.log_path = cwd / "stderr.log"
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        starts = self.log().count(" serving ") if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:  # appends: one log across restarts
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xmppd", "serve", "--config", str(self.config), *self.args],
                cwd=self.cwd,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while self.log().count(" serving ") == starts:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"xmppd serve did not start (exit code {self.process.poll()}):\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def exit_code(self, timeout: float) -> int:
        """Wait for the process to exit (without blocking the loop); fail after ``timeout`` seconds."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"xmppd serve still running {timeout}s after the signal:\n{self.log()}")
            await asyncio.sleep(0.05)
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def make_served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``make_served(*serve_args, log_level=...)``: an ``xmppd serve`` to start in ``tmp_path``."""
    made: list[Served] = []

    def make(*args: str, log_level: str = "info") -> Served:
        made.append(Served(tmp_path, *args, log_level=log_level))
        return made[-1]

    yield make
    for server in made:
        server.kill()
        if server.log_path.exists():
            print(f"xmppd serve's standard error:\n{server.log()}")  # pytest shows it when the test failed


@pytest.fixture
def served(make_served: Callable[..., Served]) -> Served:
    return make_served()


def tls_context(served: Served) -> ssl.SSLContext:
    """Trusts exactly the certificate the server generated, and checks that it names localhost."""
    return ssl.create_default_context(cafile=str(served.cwd / "xmppd-data" / "cert.pem"))


async def read_until(reader: asyncio.StreamReader, marker: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while marker not in data:
            chunk = await reader.read(65536)
            assert chunk, f"connection closed before {marker!r}; got {data!r}"
            data += chunk
    return data


async def read_to_end(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    async with asyncio.timeout(timeout):
        return await reader.read()


async def open_direct_tls(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw stream over XEP-0368 direct TLS, opened up to the stream features."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", served.direct_tls_port, ssl=tls_context(served), server_hostname="localhost"
    )
    writer.write(STREAM_HEADER)
    features = await read_until(reader, b"</stream:features>")
    assert b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" in features
    return reader, writer


async def open_starttls(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw stream on the c2s port, upgraded with STARTTLS (RFC 6120 section 5.4) and restarted."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(STREAM_HEADER)
    features = await read_until(reader, b"</stream:features>")
    assert b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" in features
    writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await read_until(reader, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await writer.start_tls(tls_context(served), server_hostname="localhost")
    writer.write(STREAM_HEADER)
    features = await read_until(reader, b"</stream:features>")
    assert b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" in features
    return reader, writer


async def open_plain(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw stream on the c2s port that never starts TLS."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(STREAM_HEADER)
    await read_until(reader, b"</stream:features>")
    return reader, writer


async def log_in(served: Served, jid: str, password: str) -> tuple[slixmpp.ClientXMPP, asyncio.Queue[str]]:
    """A slixmpp client logged in over STARTTLS, and the queue of stream error conditions it receives."""
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_plaintext = False
    client.ssl_context = tls_context(served)
    errors: asyncio.Queue[str] = asyncio.Queue()
    client.add_event_handler("stream_error", lambda error: errors.put_nowait(error["condition"]))
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def outcome(event: str) -> Callable[[object], None]:
        def handler(_data: object) -> None:
            if not started.done():
                started.set_result(event)

        return handler

    for event in ("session_start", "failed_all_auth", "disconnected"):
        client.add_event_handler(event, outcome(event))
    client.connect("127.0.0.1", served.port)
    assert await asyncio.wait_for(started, 15) == "session_start"
    return client, errors


def test_serve_creates_its_data_directory_and_a_self_signed_certificate(served: Served) -> None:
    served.start()
    data = served.cwd / "xmppd-data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (data / "xmppd.db").is_file()
    assert stat.S_IMODE((data / "key.pem").stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((data / "cert.pem").read_bytes())
    assert certificate.subject == certificate.issuer  # self-signed
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert f"c2s 127.0.0.1:{served.port}, direct TLS 127.0.0.1:{served.direct_tls_port}" in served.log()
    # A second start keeps the certificate it generated the first time.
    served.signal(signal.SIGTERM)
    assert asyncio.run(served.exit_code(10)) == 0
    served.start()
    assert x509.load_pem_x509_certificate((data / "cert.pem").read_bytes()) == certificate
    assert served.log().count("generated a self-signed certificate") == 1
    assert served.log().count(" serving ") == 2


async def test_sigterm_closes_every_stream_with_system_shutdown_and_exits_0(served: Served) -> None:
    assert (
        run(
            served.cwd, "user", "add", "-c", str(served.config), "alice@localhost", stdin="secret\n"
        ).returncode
        == 0
    )
    served.start()
    client, errors = await log_in(served, "alice@localhost/desk", "secret")
    direct = await open_direct_tls(served)
    upgraded = await open_starttls(served)
    try:
        served.signal(signal.SIGTERM)
        started = time.monotonic()
        for reader, _writer in (direct, upgraded):
            closing = await read_to_end(reader)
            assert closing.endswith(SYSTEM_SHUTDOWN)
        assert await asyncio.wait_for(errors.get(), 10) == "system-shutdown"
        assert await served.exit_code(timeout=5) == 0
        assert time.monotonic() - started < 5
    finally:
        client.abort()
        for _reader, writer in (direct, upgraded):
            writer.close()
    log = served.log()
    assert "authenticated as alice@localhost" in log
    assert "shutting down" in log and log.rstrip().endswith("stopped")
    assert "Traceback" not in log
    for line in log.splitlines():
        assert LOG_LINE.match(line), f"not a one-line log record: {line!r}"


async def test_ctrl_c_stops_cleanly_too_and_log_level_overrides_the_config(
    make_served: Callable[..., Served],
) -> None:
    served = make_served("--log-level", "debug", log_level="error")
    served.start()
    reader, writer = await open_plain(served)
    served.signal(signal.SIGINT)
    assert (await read_to_end(reader)).endswith(SYSTEM_SHUTDOWN)  # before TLS too
    writer.close()
    assert await served.exit_code(timeout=5) == 0
    log = served.log()
    assert re.search(r" DEBUG +xmppd\.session: c2s[0-9a-f]{6}: connection from 127\.0\.0\.1", log)
    # Only xmppd's own records go down to debug: aiosqlite's would log SQL parameters (keys, message bodies).
    top_loggers = re.findall(r"^\S+ \S+ (?:DEBUG|INFO) +(\w+)", log, re.MULTILINE)
    assert set(top_loggers) == {"xmppd"}
    assert "Traceback" not in log


def test_serve_with_a_bad_configuration_exits_2_and_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "xmppd.toml"
    config.write_text("[c2s]\nport = -5\n")
    result = run(tmp_path, "serve", "--config", str(config))
    assert (result.returncode, result.stderr) == (2, "xmppd: c2s.port: must be between 0 and 65535, got -5\n")
    assert not (tmp_path / "xmppd-data").exists()


def test_serve_on_a_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "xmppd.toml"
        config.write_text(f"[c2s]\nport = {port}\ndirect_tls_port = {free_port()}\n")
        result = run(tmp_path, "serve", "--config", str(config))
    assert result.returncode == 1
    assert re.search(r"ERROR +xmppd: cannot start: .*address already in use", result.stderr, re.IGNORECASE)
