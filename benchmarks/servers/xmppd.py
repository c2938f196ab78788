"""xmppd, run from this repository with the Python that runs the benchmark (on uvloop when it is installed)."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

from benchmarks.servers.base import LOOPBACK, NO_RATE_LIMIT, SCRAM_ITERATIONS, Server
from xmppd.modules.loader import DEFAULT_MODULES

# The default set: the same features the Prosody and ejabberd configurations enable.
MODULES = DEFAULT_MODULES


def _str(value: str) -> str:
    # A JSON string of printable text is a TOML basic string.
    return json.dumps(value)


class Xmppd(Server):
    name = "xmppd"
    port = 25222
    direct_tls_port = 25223
    main_process = ""

    @property
    def config_name(self) -> str:
        return "xmppd.toml"

    @property
    def log_path(self) -> Path:
        # xmppd logs on standard error, which goes to the console log.
        return self.console_path

    def config_text(self) -> str:
        data = self.work_dir / "data"
        modules = ", ".join(_str(name) for name in MODULES)
        return f"""\
# Written by the benchmark runner: loopback only, no rate limits, open in-band registration.
[server]
hosts = [{_str(self.domain)}]
data_dir = {_str(str(data))}
modules = [{modules}]
log_level = "warning"

[c2s]
interfaces = [{_str(LOOPBACK)}]
port = {self.port}
direct_tls_port = {self.direct_tls_port}
tls_required = {"true" if self.require_tls else "false"}
rate_limit = {NO_RATE_LIMIT}
rate_burst = {NO_RATE_LIMIT}

[tls]
certificate = {_str(str(self.certificate.cert))}
key = {_str(str(self.certificate.key))}

[auth]
scram_iterations = {SCRAM_ITERATIONS}

[modules.register]
allow_registration = true
max_registrations_per_address = 1000000

[modules.offline]
max_messages = 1000000
"""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "xmppd", "serve", "--config", str(self.config_path)]

    def version(self) -> str:
        try:
            version = metadata.version("xmppd")
        except metadata.PackageNotFoundError:
            version = "?"
        try:
            loop = f"uvloop {metadata.version('uvloop')}"
        except metadata.PackageNotFoundError:
            loop = "asyncio"
        return f"{version} (Python {sys.version.split()[0]}, {loop})"
