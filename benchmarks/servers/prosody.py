"""Prosody (the Debian package), run in the foreground with a configuration of its own.

Prosody refuses to run as root unless told ``run_as_root = true``: the runner runs every server as its own
user, which is root on a benchmark machine, so the option is set when that is the case.
"""

from __future__ import annotations

import os
import shutil

from benchmarks.servers.base import LOOPBACK, SCRAM_ITERATIONS, Server, command_output, debian_version

# The equivalent of xmppd's modules (presence and the message/IQ routing are in Prosody's core).
MODULES = (
    "roster",
    "saslauth",
    "tls",
    "disco",
    "ping",
    "version",
    "time",
    "offline",
    "blocklist",
    "vcard",
    "private",
    "lastactivity",
    "register",
    "posix",
)


def _lua(value: str) -> str:
    """A Lua string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class Prosody(Server):
    name = "prosody"
    port = 15222
    direct_tls_port = 15223
    main_process = ""

    @property
    def config_name(self) -> str:
        return "prosody.cfg.lua"

    def config_text(self) -> str:
        data = self.work_dir / "data"
        modules = "\n".join(f"    {_lua(name)};" for name in MODULES)
        cert, key = _lua(str(self.certificate.cert)), _lua(str(self.certificate.key))
        as_root = "true" if os.geteuid() == 0 else "false"
        return f"""\
-- Written by the benchmark runner: loopback only, no limits, open in-band registration.
daemonize = false
run_as_root = {as_root}
pidfile = {_lua(str(self.work_dir / "prosody.pid"))}
data_path = {_lua(str(data))}
log = {{ warn = {_lua(str(self.log_path))} }}

network_backend = "epoll"
interfaces = {{ {_lua(LOOPBACK)} }}
local_interfaces = {{ {_lua(LOOPBACK)} }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ {self.direct_tls_port} }}
-- No server-to-server, components, HTTP or admin socket: only what the benchmark uses listens.
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_disabled = {{ "s2s" }}

modules_enabled = {{
{modules}
}}
-- mod_limits (traffic shaping) is not loaded: no rate limits.

c2s_require_encryption = {"true" if self.require_tls else "false"}
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
default_iteration_count = {SCRAM_ITERATIONS}
storage = "internal"

-- In-band registration, open to loopback without throttling (mod_register_limits).
allow_registration = true
registration_allowlist = {{ "127.0.0.0/8", "::1" }}
allowlist_registration_only = false

certificates = {_lua(str(self.certificate.cert.parent))}
ssl = {{ certificate = {cert}; key = {key}; }}

VirtualHost {_lua(self.domain)}
    ssl = {{ certificate = {cert}; key = {key}; }}
"""

    def command(self) -> list[str]:
        return [shutil.which("prosody") or "prosody", "--config", str(self.config_path), "-F"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PROSODY_CONFIG"] = str(self.config_path)
        return env

    def version(self) -> str:
        version = debian_version("prosody")
        if not version:
            about = command_output(["prosodyctl", "about"])
            version = next((line for line in about.splitlines() if "Prosody" in line), "?")
        return version
