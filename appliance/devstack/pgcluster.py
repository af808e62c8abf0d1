# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway PostgreSQL cluster on a free loopback port, from Debian's server package."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from appliance.devstack.net import free_port

log = logging.getLogger(__name__)


def find_bindir() -> Path | None:
    """Return the newest /usr/lib/postgresql/*/bin holding a server, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major, reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


_FAST_UNSAFE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PgCluster:
    """initdb, start and stop a private cluster; `dsn` points at its `appliance` database."""

    def __init__(self, base: Path | None = None, port: int | None = None, settings: dict[str, str] | None = None):
        self.bindir = find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server not installed: apt-get install postgresql")
        self._own_base = base is None
        self.base = Path(base or tempfile.mkdtemp(prefix="appliance-pg-"))
        self.datadir = self.base / "data"
        self.port = port or free_port()
        self.user = "appliance"
        # Tests trade durability for speed; a benchmark passes the box's own settings instead.
        self.settings = settings if settings is not None else _FAST_UNSAFE
        # initdb refuses to run as root, so a root caller runs the server as Debian's postgres user.
        self._run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=appliance"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self._run_as, "--"] if self._run_as else []) + list(args)

    def start(self) -> PgCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            os.chmod(self.base, 0o755)
            shutil.chown(self.base, self._run_as)
        if not self.datadir.exists():
            initdb = str(self.bindir / "initdb")
            self._run(initdb, "-D", str(self.datadir), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.base / "postgres.log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base}"
            + "".join(f" -c {name}={value}" for name, value in self.settings.items()),
        )
        self.createdb("appliance")
        log.info("PostgreSQL listening on 127.0.0.1:%s", self.port)
        return self

    def createdb(self, name: str) -> None:
        subprocess.run(
            self._cmd(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name),
            capture_output=True,
        )

    def is_running(self) -> bool:
        return (
            subprocess.run(
                self._cmd(str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)), capture_output=True
            ).returncode
            == 0
        )

    def stop(self) -> None:
        if self.datadir.exists() and self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w")

    def destroy(self) -> None:
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args)

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if done.returncode != 0:
            hint = f" (the {self._run_as} user must be able to reach {self.base})" if self._run_as else ""
            raise RuntimeError(f"{Path(args[0]).name} failed{hint}: {(done.stderr or done.stdout).strip()[-800:]}")
