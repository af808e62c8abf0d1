# SPDX-License-Identifier: GPL-3.0-or-later
"""Two throwaway network namespaces, `hub` and `site`, joined by a veth pair: a fleet in miniature.

Every address lives inside these namespaces only, so no test packet can leave them. The underlay is
fenced with nftables inside each namespace: on the veth only WireGuard's UDP port passes, so anything
that reaches the far side on another protocol must have gone through the tunnel. Names carry a random
tag so runs never collide; `close()` removes everything it made, also after a failure half-way.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SOCKET_DIR = Path("/var/run/wireguard")
TIMEOUT = 30
UNDERLAY_IF = "ul0"
HUB_UNDERLAY = "10.77.255.1"
SITE_UNDERLAY = "10.77.255.2"
HUB_TUNNEL = "10.77.0.1"
SITE_TUNNEL = "10.77.0.2"
TUNNEL_NET = "10.77.0.0/24"
# A network behind the hub, like the carrier's SBC or the Ansible controller, reached through the tunnel.
TRUNK_NET = "10.77.99.0/24"
TRUNK_HOST = "10.77.99.1"
HUB_PORT = 51820
SITE_PORT = 51821
# wireguard-go here (no kernel module); a booted image with the module can run the same tests with "kernel".
IMPLEMENTATION = os.environ.get("APPLIANCE_TEST_WG_IMPLEMENTATION", "userspace")


def missing_tools() -> str | None:
    """Return why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "not root: network namespace tests skipped"
    for tool, package in (("ip", "iproute2"), ("wg", "wireguard-tools"), ("wireguard-go", "wireguard-go")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package}): network namespace tests skipped"
    for tool, package in (("nft", "nftables"), ("ping", "iputils-ping")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package}): network namespace tests skipped"
    return None


def sh(
    *args: str, check: bool = True, timeout: float = TIMEOUT, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command with a bounded wait; raise with its output when check and it fails."""
    proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


class Fabric:
    """The hub and site namespaces, their underlay, and helpers to run the appliance inside them."""

    def __init__(self, workdir: Path):
        self.tag = secrets.token_hex(3)
        self.dir = workdir
        self.hub = f"fca-{self.tag}-hub"
        self.site = f"fca-{self.tag}-site"
        # Interface names are global to wireguard-go (its sockets share /var/run/wireguard): keep them unique.
        self.hub_if = f"wgh{self.tag}"
        self.site_if = f"wgs{self.tag}"
        self._made: list[str] = []
        (workdir / "none.yml").write_text("{}\n", encoding="utf-8")

    def create(self) -> Fabric:
        """Make both namespaces, the fenced veth underlay, and the network behind the hub."""
        for ns in (self.hub, self.site):
            sh("ip", "netns", "add", ns)
            self._made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            UNDERLAY_IF,
            "netns",
            self.hub,
            "type",
            "veth",
            "peer",
            "name",
            UNDERLAY_IF,
            "netns",
            self.site,
        )
        for ns, address, port in ((self.hub, HUB_UNDERLAY, HUB_PORT), (self.site, SITE_UNDERLAY, SITE_PORT)):
            sh("ip", "-n", ns, "addr", "add", f"{address}/30", "dev", UNDERLAY_IF)
            sh("ip", "-n", ns, "link", "set", UNDERLAY_IF, "up")
            sh("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=fence(port))
        # No dummy module on every host: the hub's loopback carries the address of the network behind it.
        sh("ip", "-n", self.hub, "addr", "add", f"{TRUNK_HOST}/24", "dev", "lo")
        return self

    def close(self) -> None:
        """Remove the WireGuard links, end wireguard-go, delete the namespaces; never raise."""
        for ns, ifname in ((self.hub, self.hub_if), (self.site, self.site_if)):
            if ns not in self._made:
                continue
            sh("ip", "-n", ns, "link", "del", ifname, check=False)
            self._end_processes(ns)
            sh("ip", "netns", "del", ns, check=False)
            (SOCKET_DIR / f"{ifname}.sock").unlink(missing_ok=True)
        self._made.clear()

    def _end_processes(self, ns: str) -> None:
        """End what still runs in ns (our wireguard-go), by process id, politely and then firmly."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and sh("ip", "netns", "pids", ns, check=False).stdout.strip():
                time.sleep(0.1)

    # -- running things inside a namespace ----------------------------------------------------------

    def appliance(self, ns: str, *args: str, check: bool = True) -> Any:
        """Run `appliance --json ARGS` inside ns; return its JSON, or (status, stderr) when check is False."""
        proc = sh(
            "ip", "netns", "exec", ns, sys.executable, "-m", "appliance", "--config", str(self.dir / "none.yml"),
            "--json", *args, check=False, timeout=60,
        )  # fmt: skip
        if not check:
            return proc.returncode, proc.stderr
        if proc.returncode != 0:
            raise AssertionError(f"appliance {' '.join(args)} in {ns} -> {proc.returncode}\n{proc.stderr}")
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def python(self, ns: str, code: str) -> Any:
        """Run Python code inside ns (with the repository importable); return the JSON it prints."""
        proc = sh("ip", "netns", "exec", ns, sys.executable, "-c", code, timeout=60)
        return json.loads(proc.stdout)

    def ping(self, ns: str, address: str) -> bool:
        """Return whether address answers from ns: three pings, two seconds each at most."""
        return (
            sh("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "3", "-W", "2", address, check=False).returncode
            == 0
        )

    def wg_dump(self, ns: str, ifname: str) -> list[list[str]]:
        """Return `wg show dump` rows without the volatile fields (handshake time, counters)."""
        rows = [
            line.split("\t") for line in sh("ip", "netns", "exec", ns, "wg", "show", ifname, "dump").stdout.splitlines()
        ]
        return [rows[0]] + [r[:4] + r[7:] for r in rows[1:]]

    def ip_json(self, ns: str, *args: str) -> Any:
        """Return `ip -j ARGS` inside ns as data."""
        return json.loads(sh("ip", "-j", "-n", ns, *args).stdout or "[]")


def fence(port: int, peer_port: bool = False) -> str:
    """Return nftables rules letting only WireGuard's UDP port over the underlay veth.

    By default port is this namespace's own; with peer_port it is the far end's (a spoke whose own port is
    random talks to the hub's port only).
    """
    here, there = ("sport", "dport") if peer_port else ("dport", "sport")
    return f"""
table inet fca_fence {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "{UNDERLAY_IF}" udp {here} {port} accept
    iifname "{UNDERLAY_IF}" drop
  }}
  chain output {{
    type filter hook output priority 0; policy accept;
    oifname "{UNDERLAY_IF}" udp {there} {port} accept
    oifname "{UNDERLAY_IF}" drop
  }}
}}
"""


@dataclass
class Fleet:
    """A hub with one enrolled site, both tunnels up: where each state file and key is."""

    fabric: Fabric
    hub_state: Path
    site_state: Path
    hub_public: str
    site_public: str

    def site_data(self) -> dict[str, Any]:
        """Return the site's desired state, to change and write back."""
        return json.loads(self.site_state.read_text(encoding="utf-8"))

    def write_site(self, data: dict[str, Any]) -> None:
        """Write the site's desired state."""
        self.site_state.write_text(json.dumps(data, indent=2), encoding="utf-8")


def build_fleet(fabric: Fabric, site_key: str = "site.key") -> Fleet:
    """Make keys on each side, enrol the site at the hub, bring both tunnels up; site_key is what the site runs with."""
    d = fabric.dir
    hub_public = fabric.appliance(fabric.hub, "vpn", "keygen", "--key", str(d / "hub.key"))["public_key"]
    site_public = fabric.appliance(fabric.site, "vpn", "keygen", "--key", str(d / "site.key"))["public_key"]
    if site_key != "site.key":
        fabric.appliance(fabric.site, "vpn", "keygen", "--key", str(d / site_key))
    hub_state = d / "hub.yml"
    hub_state.write_text(
        f"""# The hub: fixed port, appliances enrolled into hub-peers.json by add-peer.
role: hub
interface: {fabric.hub_if}
addresses: [{HUB_TUNNEL}/24]
listen_port: {HUB_PORT}
private_key_file: hub.key
peers_file: hub-peers.json
psk_dir: psk
implementation: {IMPLEMENTATION}
""",
        encoding="utf-8",
    )
    fabric.appliance(fabric.hub, "vpn", "up", "--state", str(hub_state))
    fabric.appliance(
        fabric.hub, "vpn", "add-peer", "site1", "--state", str(hub_state),
        "--public-key", site_public, "--allowed-ip", SITE_TUNNEL,
    )  # fmt: skip
    fleet = Fleet(fabric, hub_state, d / "site.json", hub_public, site_public)
    fleet.write_site(
        {
            "role": "spoke",
            "interface": fabric.site_if,
            "addresses": [f"{SITE_TUNNEL}/24"],
            "listen_port": SITE_PORT,
            "private_key_file": site_key,
            "implementation": IMPLEMENTATION,
            "peers": [
                {
                    "name": "hub",
                    "public_key": hub_public,
                    "endpoint": f"{HUB_UNDERLAY}:{HUB_PORT}",
                    "allowed_ips": [TUNNEL_NET, TRUNK_NET],
                    # The hub made it at enrolment; a real box receives it over the enrolment channel.
                    "preshared_key_file": "psk/site1.psk",
                }
            ],
        }
    )
    fabric.appliance(fabric.site, "vpn", "up", "--state", str(fleet.site_state))
    return fleet
