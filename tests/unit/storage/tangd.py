# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Tang server on 127.0.0.1 for the tests: Debian's tangd behind socat, with fresh keys."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

TANGD = Path("/usr/libexec/tangd")
KEYGEN = Path("/usr/libexec/tangd-keygen")


def missing() -> str | None:
    """Return why a Tang server cannot run here, or None."""
    for tool in (TANGD, KEYGEN):
        if not tool.exists():
            return f"{tool} missing (apt-get install tang)"
    for tool in ("socat", "jose", "clevis"):
        if shutil.which(tool) is None:
            return f"{tool} missing (apt-get install {tool})"
    return None


class Tang:
    """tangd on 127.0.0.1:port (any address with host="0.0.0.0"), keys in workdir/db."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1"):
        self.db = workdir / "tang-db"
        self.db.mkdir(parents=True, exist_ok=True)
        if not any(self.db.glob("*.jwk")):
            subprocess.run([str(KEYGEN), str(self.db)], check=True)
        self.host = host
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen | None = None

    @property
    def thumbprint(self) -> str:
        """Return the thumbprint of the signing key (what a client pins)."""
        for path in sorted(self.db.glob("*.jwk")):
            if "verify" in json.loads(path.read_text()).get("key_ops", []):
                return subprocess.run(
                    ["jose", "jwk", "thp", "-i", str(path)], capture_output=True, text=True, check=True
                ).stdout.strip()
        raise LookupError(f"no signing key in {self.db}")

    def start(self) -> Tang:
        """Start serving; wait until the port accepts connections."""
        listen = f"TCP-LISTEN:{self.port},bind={self.host},reuseaddr,fork"
        self.proc = subprocess.Popen(["socat", listen, f"EXEC:{TANGD} {self.db}"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tangd did not listen on {self.port}")

    def stop(self) -> None:
        """Stop serving (socat and its children)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
