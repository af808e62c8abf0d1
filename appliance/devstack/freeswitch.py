# SPDX-License-Identifier: GPL-3.0-or-later
"""Start a FreeSWITCH found through FREESWITCH_PREFIX or PATH on a rendered configuration."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from appliance.devstack.net import wait_for_tcp

log = logging.getLogger(__name__)

NOT_FOUND = "FreeSWITCH not found (set FREESWITCH_PREFIX or put freeswitch on PATH)"


def find_freeswitch() -> Path | None:
    """Return the freeswitch binary from $FREESWITCH_PREFIX/bin or PATH, or None."""
    prefix = os.environ.get("FREESWITCH_PREFIX")
    if prefix:
        candidate = Path(prefix) / "bin" / "freeswitch"
        return candidate if os.access(candidate, os.X_OK) else None
    found = shutil.which("freeswitch")
    return Path(found).resolve() if found else None


class FreeSwitchProcess:
    """One FreeSWITCH in the foreground (-nf), with every runtime directory under `workdir`."""

    def __init__(self, binary: Path, conf_dir: Path, workdir: Path, esl_port: int):
        self.binary = binary
        self.conf_dir = conf_dir
        self.workdir = workdir
        self.esl_port = esl_port
        self.proc: subprocess.Popen | None = None
        self.dirs = {
            name: workdir / name
            for name in ("log", "db", "run", "temp", "storage", "recordings", "sounds", "cache", "certs")
        }

    @property
    def logfile(self) -> Path:
        return self.workdir / "freeswitch.out"

    def start(self, timeout: float = 60) -> FreeSwitchProcess:
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        args = [str(self.binary), "-nf", "-nc", "-nonat", "-conf", str(self.conf_dir)]
        for name, path in self.dirs.items():
            args += [f"-{name}", str(path)]
        log.info("starting %s", " ".join(args))
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.logfile.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_tcp(self.esl_port, timeout=timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"FreeSWITCH did not open its event socket on 127.0.0.1:{self.esl_port}; see {self.logfile}"
            ) from None
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """Stop FreeSWITCH: SIGTERM makes it shut down cleanly; SIGKILL if it hangs."""
        if not self.running():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("FreeSWITCH ignored SIGTERM for %ss; killing it", timeout)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        time.sleep(0.2)
        self.start()
