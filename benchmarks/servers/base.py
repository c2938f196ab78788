"""What every benchmarked server has in common: its work directory, start, readiness, stop and process ids.

A server runs as a child process of the runner, in the foreground, pinned to one CPU core with ``taskset``,
from its own work directory (``<work root>/<name>/``) that holds its configuration file, data, logs and
anything else it writes. Its standard output and error go to ``console.log`` there; its own log (warnings
and worse) goes to ``server.log`` where the server lets us choose.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from xmppd.transport.tls import ensure_self_signed

DOMAIN = "localhost"
LOOPBACK = "127.0.0.1"
SCRAM_ITERATIONS = 4096
# The most a c2s rate limit can be set to in xmppd: in effect, no limit.
NO_RATE_LIMIT = 1099511627776
# Every port a server listens on lies in this range: unprivileged, and below Linux's default ephemeral range
# (32768-60999), so that no outgoing connection or leftover TIME_WAIT socket can hold one.
PORT_FLOOR = 1024
PORT_LIMIT = 32768
STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)


class ServerError(RuntimeError):
    """A server could not be started or stopped; the message ends with the last lines of its logs."""


@dataclass(frozen=True)
class Certificate:
    """One TLS certificate and key (PEM files) that every server presents, so that TLS costs the same."""

    cert: Path
    key: Path


def ensure_certificate(directory: Path, domain: str = DOMAIN) -> Certificate:
    """A self-signed EC P-256 certificate for ``domain`` in ``directory``, made on the first call only."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    directory.mkdir(parents=True, exist_ok=True)
    # xmppd's own generator (EC P-256, written atomically, key readable by its owner only).
    ensure_self_signed(cert_path, key_path, [domain])
    cert_path.chmod(0o644)
    return Certificate(cert_path, key_path)


def raise_fd_limit() -> None:
    """Raise this process's soft limit of open files to its hard limit (trying higher first).

    Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not have: the attempt is made, and
    the soft limit goes as high as the hard limit allows. Called by the runner before it starts a server or
    the load generator, which inherit the limit (each reports the one in force in ``/proc/PID/limits``).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1 << 20
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return
        except (ValueError, OSError):
            pass
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fd_limits(pid: int) -> tuple[int, int] | None:
    """(soft, hard) limit of open files of process ``pid``, or None when it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            fields = line.split()
            try:
                return int(fields[3]), int(fields[4])
            except (IndexError, ValueError):
                return None
    return None


def descendants(pid: int) -> list[int]:
    """The process ids of every descendant of ``pid`` (children first), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the fields after the last ")" count.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        for child in sorted(children.get(parent, [])):
            found.append(child)
            queue.append(child)
    return found


def process_name(pid: int) -> str:
    """The command name of ``pid`` (``/proc/PID/comm``), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def command_output(args: list[str], timeout: float = 30.0) -> str:
    """Standard output of a short command, stripped; "" when it is missing or fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def debian_version(package: str) -> str:
    """The installed version of a Debian package, or "" when dpkg does not know it."""
    return command_output(["dpkg-query", "-W", "-f", "${Version}", package])


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ("" when there is none)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 64 * 1024))
            data = file.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def stream_answered(host: str, port: int, domain: str, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` answers an XMPP stream header with one of its own."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(STREAM_HEADER.format(domain=domain).encode())
            received = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
                # Features mean the server has set up the stream for this domain, not only accepted a socket.
                if b"features" in received or b"stream:error" in received:
                    break
            return b"features" in received
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


def port_bindable(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` now.

    Not only a listener is in the way: a client connection whose local port is ``port`` is too, which is why
    every port of the comparison lies below the kernel's ephemeral range (``PORT_LIMIT``).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class Server(ABC):
    """One XMPP server under test, run as a child process from its own work directory.

    Subclasses give its ``name``, ports, configuration file (``config_text``), command line and environment.
    ``require_tls`` is read when the configuration is written, at each start: a benchmark of unencrypted
    sessions restarts the server with it off.
    """

    name: str = ""
    port: int = 0
    direct_tls_port: int | None = None
    domain: str = DOMAIN
    host: str = LOOPBACK
    start_timeout: float = 60.0
    # How long to wait for a port held by a connection of someone else to be released (TIME_WAIT lasts 60 s).
    port_wait: float = 75.0
    stop_timeout: float = 20.0
    # The command name of the process whose CPU time and memory count as the server's.
    main_process: str = ""

    def __init__(
        self, work_root: Path, certificate: Certificate, core: int | None = 0, port_offset: int = 0
    ) -> None:
        self.port = self.port + port_offset
        if self.direct_tls_port:
            self.direct_tls_port = self.direct_tls_port + port_offset
        outside = [port for port in self.ports() if not PORT_FLOOR <= port < PORT_LIMIT]
        if outside:
            raise ServerError(f"{self.name}: ports {outside} are outside {PORT_FLOOR}-{PORT_LIMIT - 1}")
        self.work_dir = work_root / self.name
        self.certificate = certificate
        self.core = core
        self.require_tls = True
        self.process: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None

    # -- what a subclass says ---------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.work_dir / self.config_name

    @property
    def config_name(self) -> str:
        return "config"

    @property
    def log_path(self) -> Path:
        """The server's own log (warnings and worse)."""
        return self.work_dir / "server.log"

    @property
    def console_path(self) -> Path:
        """The server's standard output and error."""
        return self.work_dir / "console.log"

    @property
    def scram_cache_path(self) -> Path:
        """Where the load generator keeps the SCRAM salted passwords of this server's accounts."""
        return self.work_dir / "scram-cache.json"

    @abstractmethod
    def config_text(self) -> str:
        """The configuration file, as this server reads it."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground (without the CPU pinning)."""

    def environment(self) -> dict[str, str]:
        """The server's environment: the runner's, plus whatever the subclass adds."""
        return dict(os.environ)

    def data_dirs(self) -> list[Path]:
        """The directories that hold the server's accounts and other data (wiped by ``reset``)."""
        return [self.work_dir / "data"]

    def prepare(self) -> None:
        """Create the directories the configuration names (before each start)."""
        for directory in self.data_dirs():
            directory.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def version(self) -> str:
        """The server software's version, for the record."""

    def description(self) -> dict[str, object]:
        """What the results record about this server."""
        return {
            "name": self.name,
            "version": self.version(),
            "port": self.port,
            "direct_tls_port": self.direct_tls_port,
            "domain": self.domain,
            "core": self.core,
        }

    # -- life cycle ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reset(self) -> None:
        """Forget every account and message: delete the data directories and logs (the server is stopped)."""
        if self.running:
            raise ServerError(f"{self.name}: cannot reset a running server")
        for directory in self.data_dirs():
            shutil.rmtree(directory, ignore_errors=True)
        # The salts of the accounts go with them: the generator's cached salted passwords are of no more use.
        for path in (self.log_path, self.console_path, self.scram_cache_path):
            path.unlink(missing_ok=True)

    def write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self.config_path.write_text(self.config_text())
        return self.config_path

    def full_command(self) -> list[str]:
        pin = ["taskset", "-c", str(self.core)] if self.core is not None else []
        return pin + self.command()

    def start(self) -> None:
        """Start the server and return once it answers a stream on its port; ServerError if it does not."""
        if self.running:
            return
        self.wait_for_ports()
        self.write_config()
        # Inherited by the server: raised here rather than in a preexec_fn, which is unsafe with threads.
        raise_fd_limit()
        self._console = self.console_path.open("ab")
        self._console.write(
            f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.full_command())}\n".encode()
        )
        self._console.flush()
        self.process = subprocess.Popen(
            self.full_command(),
            cwd=self.work_dir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C of the runner does not reach it before ``stop``.
            start_new_session=True,
        )
        self.wait_ready()

    def ports(self) -> list[int]:
        """Every port the server listens on."""
        return [port for port in (self.port, self.direct_tls_port) if port]

    def wait_for_ports(self) -> None:
        """Wait until every port of the server can be bound; ServerError if one stays taken."""
        deadline = time.monotonic() + self.port_wait
        while True:
            taken = [port for port in self.ports() if not port_bindable(self.host, port)]
            if not taken:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        listening = [port for port in taken if not port_free(self.host, port)]
        why = f"another server listens on {listening}" if listening else "a client connection holds them"
        raise ServerError(f"{self.name}: ports {taken} are in use ({why})")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.process.returncode if self.process else None
                self._close_console()
                raise ServerError(f"{self.name} exited with code {code} while starting\n{self.logs()}")
            if stream_answered(self.host, self.port, self.domain) and self._ready_extra():
                return
            time.sleep(0.25)
        logs = self.logs()
        self.stop()
        raise ServerError(f"{self.name} did not answer a stream within {self.start_timeout:.0f} s\n{logs}")

    def _ready_extra(self) -> bool:
        """A further readiness condition of a subclass (the direct TLS port listening)."""
        return self.direct_tls_port is None or not port_free(self.host, self.direct_tls_port)

    def stop(self) -> int | None:
        """Stop cleanly: SIGTERM, wait, then SIGKILL the whole process group. Returns the exit code."""
        process = self.process
        if process is None:
            return None
        code = process.poll()
        if code is None:
            self._signal(process, signal.SIGTERM)
            try:
                code = process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                code = process.wait(10)
        # Helpers of the server (an Erlang port program, say) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self.process = None
        self._close_console()
        return code

    def _signal(self, process: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    def _close_console(self) -> None:
        if self._console is not None:
            self._console.close()
            self._console = None

    def pids(self) -> list[int]:
        """The process ids whose CPU time and memory count as the server's, the main one first.

        The processes named ``main_process`` among the server's (ejabberd: ``beam.smp``, not its small port
        programs), or else the process the runner started.
        """
        every = self.all_pids()
        if self.main_process:
            main = [pid for pid in every if process_name(pid) == self.main_process]
            if main:
                return main
        return every[:1]

    def all_pids(self) -> list[int]:
        """Every process of the server: the one the runner started and its descendants."""
        if not self.running or self.process is None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    @property
    def main_pid(self) -> int:
        pids = self.pids()
        if not pids:
            raise ServerError(f"{self.name} is not running")
        return pids[0]

    def fd_limits(self) -> tuple[int, int] | None:
        """(soft, hard) open-files limit of the main server process."""
        pids = self.pids()
        return fd_limits(pids[0]) if pids else None

    def logs(self, lines: int = 30) -> str:
        parts = []
        for path in dict.fromkeys((self.log_path, self.console_path)):
            text = tail(path, lines)
            if text:
                parts.append(f"--- last lines of {path}:\n{text}")
        return "\n".join(parts) or "(no log output)"
