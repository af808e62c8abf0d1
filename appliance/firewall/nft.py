# SPDX-License-Identifier: GPL-3.0-or-later
"""Talk to nftables through the `nft` command: check, load, read and change set elements.

Every call can run inside a network namespace (`ip netns exec NS nft ...`): the tests keep their
tables there, so nothing here ever touches the host's own ruleset unless asked to.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass

from appliance.firewall import FirewallError

log = logging.getLogger(__name__)

TIMEOUT = 30  # seconds; nft answers in milliseconds, a hang means something is badly wrong


@dataclass(frozen=True)
class Nft:
    """The nft command, optionally inside a network namespace."""

    netns: str | None = None
    binary: str = "nft"

    def command(self, *args: str) -> list[str]:
        """Return the argument vector that runs nft with args."""
        base = [self.binary, *args]
        return ["ip", "netns", "exec", self.netns, *base] if self.netns else base

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run nft and return its output, or raise FirewallError with what nft said."""
        argv = self.command(*args)
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FirewallError(f"{' '.join(argv[:6])}: {exc}") from None
        if proc.returncode != 0:
            raise FirewallError(f"nft {' '.join(args)} refused: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def check(self, ruleset: str) -> None:
        """Have nft parse and dry-run the ruleset in the kernel without committing it."""
        self.run("-c", "-f", "-", stdin=ruleset)

    def load(self, ruleset: str) -> None:
        """Load the ruleset as one transaction: all of it or, on any error, none of it."""
        self.run("-f", "-", stdin=ruleset)

    def table_exists(self, table: str) -> bool:
        """Return whether `table inet <table>` is loaded."""
        try:
            self.run("list", "table", "inet", table)
        except FirewallError:
            return False
        return True

    def elements(self, table: str, name: str) -> list[Element]:
        """Return the elements of a set, with their timeouts and remaining lifetimes."""
        data = json.loads(self.run("-j", "list", "set", "inet", table, name))
        found = next((item["set"] for item in data.get("nftables", []) if "set" in item), {})
        default = int(found.get("timeout", 0))
        out = []
        for raw in found.get("elem", []):
            if isinstance(raw, dict) and "elem" in raw:
                elem = raw["elem"]
                out.append(Element(str(elem["val"]), int(elem.get("timeout", default)), int(elem.get("expires", 0))))
            else:
                out.append(Element(str(raw), default, 0))
        return out

    def put(self, table: str, name: str, address: str, seconds: int) -> None:
        """Add an address to a timeout set, or restart its timeout if it is already there."""
        addr = _address(address)
        # Older kernels keep the old timeout on a second `add`: delete and add again, in one transaction.
        self.run(
            "-f",
            "-",
            stdin=(
                f"add element inet {table} {name} {{ {addr} timeout {seconds}s }}\n"
                f"delete element inet {table} {name} {{ {addr} }}\n"
                f"add element inet {table} {name} {{ {addr} timeout {seconds}s }}\n"
            ),
        )

    def remove(self, table: str, name: str, address: str) -> None:
        """Remove an address from a set; an address that is not there is fine."""
        addr = _address(address)
        self.run(
            "-f",
            "-",
            stdin=f"add element inet {table} {name} {{ {addr} }}\ndelete element inet {table} {name} {{ {addr} }}\n",
        )


@dataclass(frozen=True)
class Element:
    """One set element: the address, its timeout and the seconds it has left (0: no timeout)."""

    address: str
    timeout: int
    expires: int

    def carried(self) -> str:
        """Return the element as written into a new ruleset, keeping its remaining lifetime."""
        if self.timeout and self.expires:
            return f"{self.address} timeout {self.timeout}s expires {min(self.expires, self.timeout)}s"
        return self.address


def available(binary: str = "nft") -> bool:
    """Return whether the nft command is installed."""
    return shutil.which(binary) is not None


def _address(text: str) -> str:
    """Return text as a canonical IP address; anything else never reaches an nft command line."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise FirewallError(f"{text!r} is not an IP address") from None


def family(address: str) -> int:
    """Return 4 or 6 for an IP address."""
    return ipaddress.ip_address(address).version
