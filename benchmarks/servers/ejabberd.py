"""ejabberd (the Debian package), run in the foreground as a child, without ``ejabberdctl``.

``ejabberdctl foreground`` would read ``/etc/ejabberd/ejabberdctl.cfg``, switch to the ``ejabberd`` user with
``su`` (which then needs access to the work directory) and leave an ``epmd`` daemon running. The runner calls
``erl`` the way ``ejabberdctl`` does instead, with everything of its own: configuration file (environment
variable ``EJABBERD_CONFIG_PATH``), log file (``EJABBERD_LOG_PATH``), Mnesia spool directory, node name and
cookie (``$HOME/.erlang.cookie``, with ``HOME`` the work directory). Erlang distribution listens on one
loopback port without ``epmd`` (``-start_epmd false -erl_epmd_port``).

One core: ``+S 1:1`` (one scheduler thread) and ``+SDcpu 1:1`` (one dirty CPU scheduler), as well as the
``taskset`` pinning every server gets. The process that counts as the server is ``beam.smp``.
"""

from __future__ import annotations

import glob
import json
import secrets
from pathlib import Path

from benchmarks.servers.base import LOOPBACK, Server, debian_version

# Where Debian installs the ejabberd application (``/usr/lib/<multiarch triplet>/ejabberd-VERSION``); Erlang's
# own library directory holds its dependencies. ``ejabberdctl`` sets ERL_LIBS to the first.
LIB_PATTERNS = ("/usr/lib/*/ejabberd-*/ebin/ejabberd.app", "/usr/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app")
NODE = "ejabberd-bench@localhost"
# Erlang distribution listens on one port (no epmd): the client port plus this.
DIST_PORT_OFFSET = 77
MAX_OFFLINE = 1000000
MAX_FSM_QUEUE = 1000000
# The listen backlog of Prosody (128) and about that of xmppd (asyncio: 100).
BACKLOG = 128

# The equivalent of xmppd's modules (mod_blocking needs mod_privacy: a hard dependency in 23.01).
MODULES: dict[str, dict[str, str]] = {
    "mod_roster": {"versioning": "true"},
    "mod_offline": {"access_max_user_messages": "max_user_offline_messages"},
    "mod_blocking": {},
    "mod_privacy": {},
    "mod_vcard": {"search": "false"},
    "mod_private": {},
    "mod_last": {},
    "mod_disco": {},
    "mod_ping": {},
    "mod_version": {"show_os": "false"},
    "mod_time": {},
    "mod_register": {"ip_access": "all", "access": "register"},
}


def _yaml(value: str) -> str:
    # A JSON string is a YAML double-quoted scalar.
    return json.dumps(value)


def ejabberd_lib_dir() -> Path | None:
    """The installed ejabberd application directory (``ejabberd-VERSION``), if any."""
    for pattern in LIB_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1]).parents[1]
    return None


class Ejabberd(Server):
    name = "ejabberd"
    port = 16222
    direct_tls_port = 16223
    main_process = "beam.smp"
    start_timeout = 120.0
    stop_timeout = 30.0

    @property
    def config_name(self) -> str:
        return "ejabberd.yml"

    @property
    def spool_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def dist_port(self) -> int:
        return self.port + DIST_PORT_OFFSET

    def ports(self) -> list[int]:
        return [*super().ports(), self.dist_port]

    def _listener(self, port: int, direct_tls: bool) -> str:
        tls = (
            "    tls: true\n"
            if direct_tls
            else f"    starttls_required: {'true' if self.require_tls else 'false'}\n"
        )
        if not direct_tls and not self.require_tls:
            tls = "    starttls: true\n    starttls_required: false\n"
        return (
            "  -\n"
            f"    port: {port}\n"
            f"    ip: {_yaml(LOOPBACK)}\n"
            "    module: ejabberd_c2s\n"
            "    max_stanza_size: 262144\n"
            "    shaper: none\n"
            "    access: c2s\n"
            # ejabberd's default listen backlog is 5: a burst of connections would wait for SYN retries.
            f"    backlog: {BACKLOG}\n"
            f"{tls}"
        )

    def config_text(self) -> str:
        modules = []
        for module, options in MODULES.items():
            if options:
                lines = "".join(f"    {key}: {value}\n" for key, value in options.items())
                modules.append(f"  {module}:\n{lines}")
            else:
                modules.append(f"  {module}: {{}}\n")
        return (
            "# Written by the benchmark runner: loopback only, no shapers, open in-band registration.\n"
            f"hosts:\n  - {_yaml(self.domain)}\n"
            "loglevel: warning\n"
            "log_rotate_count: 0\n"
            "hide_sensitive_log_data: true\n"
            f"certfiles:\n  - {_yaml(str(self.certificate.cert))}\n  - {_yaml(str(self.certificate.key))}\n"
            "default_db: mnesia\n"
            "auth_method: [internal]\n"
            "auth_password_format: scram\n"
            # SCRAM-SHA-1, as the other servers and the load generator use (ejabberd's 4096 iterations are fixed).
            "auth_scram_hash: sha\n"
            "registration_timeout: infinity\n"
            f"max_fsm_queue: {MAX_FSM_QUEUE}\n"
            f"listen:\n{self._listener(self.port, False)}{self._listener(self.direct_tls_port or 0, True)}"
            "acl:\n"
            '  local:\n    user_regexp: ""\n'
            "  loopback:\n    ip:\n      - 127.0.0.0/8\n      - ::1/128\n"
            "access_rules:\n"
            "  local:\n    allow: local\n"
            "  c2s:\n    allow: all\n"
            "  register:\n    allow: all\n"
            "  trusted_network:\n    allow: loopback\n"
            "shaper: {}\n"
            "shaper_rules:\n"
            f"  max_user_offline_messages: {MAX_OFFLINE}\n"
            "  c2s_shaper: none\n"
            "  s2s_shaper: none\n"
            f"modules:\n{''.join(modules)}"
        )

    def command(self) -> list[str]:
        return [
            "erl",
            "-sname",
            NODE,
            "-noinput",
            "+K",
            "true",
            "+P",
            "250000",
            "+S",
            "1:1",
            "+SDcpu",
            "1:1",
            "-start_epmd",
            "false",
            "-erl_epmd_port",
            str(self.dist_port),
            "-kernel",
            "inet_dist_use_interface",
            "{127,0,0,1}",
            "-mnesia",
            "dir",
            _yaml(str(self.spool_dir)),
            "-s",
            "ejabberd",
        ]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            {
                "HOME": str(self.work_dir),
                "EJABBERD_CONFIG_PATH": str(self.config_path),
                "EJABBERD_LOG_PATH": str(self.log_path),
                "EJABBERD_PID_PATH": str(self.work_dir / "ejabberd.pid"),
                "ERL_LIBS": str(lib.parent) if (lib := ejabberd_lib_dir()) else "",
                "ERL_CRASH_DUMP": str(self.work_dir / "erl_crash.dump"),
                "ERL_CRASH_DUMP_BYTES": "0",
                "ERL_INETRC": str(self.work_dir / "inetrc"),
                "ERL_MAX_PORTS": "65536",
                "ERL_MAX_ETS_TABLES": "1400",
                "CONTRIB_MODULES_PATH": str(self.work_dir / "contrib"),
            }
        )
        return env

    def prepare(self) -> None:
        super().prepare()
        cookie = self.work_dir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        (self.work_dir / "inetrc").write_text(
            '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n'
        )

    def version(self) -> str:
        version = debian_version("ejabberd")
        if not version:
            lib = ejabberd_lib_dir()
            version = lib.name.removeprefix("ejabberd-") if lib else "?"
        return version
