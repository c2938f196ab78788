"""Install Prosody and ejabberd from Debian's packages when they are missing (as root), or say how."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable

from benchmarks.servers.ejabberd import ejabberd_lib_dir

# lua-event: Prosody's libevent backend (the benchmark uses its epoll backend, but Debian's Prosody suggests it).
PACKAGES = ("prosody", "ejabberd", "lua-event")
INSTALL_COMMAND = ["apt-get", "install", "-y", *PACKAGES]


def installed(name: str) -> bool:
    """True when the server ``name`` can be run here."""
    if name == "prosody":
        return shutil.which("prosody") is not None
    if name == "ejabberd":
        return shutil.which("erl") is not None and ejabberd_lib_dir() is not None
    return True


def ensure_installed(names: Iterable[str], say: Callable[[str], None] = print) -> list[str]:
    """Install the missing servers among ``names``; return those still missing afterwards.

    Root runs ``apt-get install -y prosody ejabberd lua-event`` (after ``apt-get update`` if the first try
    fails); anyone else is told the command to run. The packages' own system services are never used: each
    server runs from the benchmark's work directory with a configuration of its own.
    """
    missing = [name for name in names if not installed(name)]
    if not missing:
        return []
    command = " ".join(INSTALL_COMMAND)
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say(f"not installed: {', '.join(missing)}; as root, run: {command}")
        return missing
    say(f"not installed: {', '.join(missing)}; running: {command}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(INSTALL_COMMAND, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=False)
        subprocess.run(INSTALL_COMMAND, env=env, check=False)
    still = [name for name in missing if not installed(name)]
    if still:
        say(f"still not installed: {', '.join(still)}")
    return still
