# SPDX-License-Identifier: GPL-3.0-or-later
"""A miniature site for the firewall: the appliance (`box`) and, each behind its own veth pair, a phone
on the LAN (`lan`), the internet (`wan`) and the hub's end of the tunnel (`tun`).

Every address lives inside these namespaces only. The box runs the real ruleset (`appliance firewall
apply` inside it) and small listeners on the ports the policy talks about; the other namespaces probe
them. Names carry a random tag; `close()` ends what runs in them by process id and deletes them.
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
from pathlib import Path
from typing import Any

TIMEOUT = 30
ZONES = {  # zone: (box interface, box address, peer address)
    "lan": ("lan0", "10.78.1.1", "10.78.1.2"),
    "wan": ("wan0", "10.78.2.1", "10.78.2.2"),
    "tun": ("tun0", "10.78.3.1", "10.78.3.2"),
}
ZONES6 = {zone: (f"fd78:{i}::1", f"fd78:{i}::2") for i, zone in enumerate(ZONES, start=1)}
# Ports the box listens on: what the policy opens, and what it must keep closed.
TCP_PORTS = {"sip": 5060, "sip_tls": 5061, "external": 5080, "console": 443, "pki_http": 80, "ssh": 22, "esl": 8021,
             "pg": 5432, "socket": 8084}  # fmt: skip
UDP_PORTS = {"sip": 5060, "external": 5080, "rtp": 16500, "wireguard": 51820}

LISTENER = r"""
import json, selectors, signal, socket, sys, time
tcp, udp = json.loads(sys.argv[1])
out, deadline = sys.argv[2], time.monotonic() + float(sys.argv[3])
sel, counts, stop = selectors.DefaultSelector(), {}, []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
for kind, ports in ((socket.SOCK_STREAM, tcp), (socket.SOCK_DGRAM, udp)):
    for port in ports:
        s = socket.socket(socket.AF_INET6, kind)  # dual stack: IPv4 arrives as ::ffff:a.b.c.d
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("tcp" if kind == socket.SOCK_STREAM else "udp", port))
open(out + ".ready", "w").close()
while not stop and time.monotonic() < deadline:
    events = sel.select(0.2)
    for key, _ in events:
        proto, port = key.data
        try:
            if proto == "tcp":
                conn, addr = key.fileobj.accept()
                conn.close()
            else:
                data, addr = key.fileobj.recvfrom(2048)
                key.fileobj.sendto(data, addr)
        except OSError:
            continue
        name = f"{proto}/{port}/{addr[0].removeprefix('::ffff:')}"
        counts[name] = counts.get(name, 0) + 1
    if events:
        with open(out + ".tmp", "w") as fh:
            json.dump(counts, fh)
        import os; os.replace(out + ".tmp", out)
"""

PROBE = r"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
targets = json.loads(sys.argv[1])
def probe(target):
    proto, host, port = target
    try:
        if proto == "tcp":
            socket.create_connection((host, port), timeout=1).close()
            return True
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            s.sendto(b"probe", (host, port))
            return s.recvfrom(64)[0] == b"probe"
    except OSError:
        return False
with ThreadPoolExecutor(16) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
"""

FLOOD = r"""
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for i in range(count):
        s.sendto(b"REGISTER %d" % i, (host, port))
"""


def missing_tools() -> str | None:
    """Return why the firewall namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: network namespace tests skipped"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("ping", "iputils-ping")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package}): firewall namespace tests skipped"
    return None


def sh(
    *args: str, check: bool = True, timeout: float = TIMEOUT, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command with a bounded wait; raise with its output when check and it fails."""
    proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


class Site:
    """The box and its three neighbours; the box runs the appliance's firewall."""

    def __init__(self, workdir: Path):
        self.tag = secrets.token_hex(3)
        self.dir = workdir
        self.ns = {name: f"fca-{self.tag}-{name}" for name in ("box", *ZONES)}
        self.table = f"fca_{self.tag}"
        self.state = workdir / "firewall.yml"
        self._made: list[str] = []
        self._listener: subprocess.Popen | None = None
        (workdir / "none.yml").write_text("{}\n", encoding="utf-8")
        for name, text in (("listener.py", LISTENER), ("probe.py", PROBE), ("flood.py", FLOOD)):
            (workdir / name).write_text(text, encoding="utf-8")

    def create(self) -> Site:
        """Make the namespaces and veth pairs, address them, start the box's listeners."""
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            self._made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for zone, (ifname, box_ip, peer_ip) in ZONES.items():
            sh("ip", "link", "add", ifname, "netns", self.ns["box"], "type", "veth", "peer", "name", "eth0",
               "netns", self.ns[zone])  # fmt: skip
            box6, peer6 = ZONES6[zone]
            for ns, name, address, address6 in (
                (self.ns["box"], ifname, box_ip, box6),
                (self.ns[zone], "eth0", peer_ip, peer6),
            ):
                sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", name)
                # nodad: usable at once, no duplicate address detection to wait for
                sh("ip", "-n", ns, "addr", "add", f"{address6}/64", "dev", name, "nodad")
                sh("ip", "-n", ns, "link", "set", name, "up")
        self._start_listener()
        return self

    def _start_listener(self) -> None:
        spec = json.dumps([sorted(set(TCP_PORTS.values())), sorted(set(UDP_PORTS.values()))])
        out = self.dir / "counts.json"
        self._listener = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["box"], sys.executable, str(self.dir / "listener.py"), spec, str(out),
             "240"], stdout=subprocess.DEVNULL, stderr=(self.dir / "listener.err").open("wb"),
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not Path(str(out) + ".ready").exists():
            assert time.monotonic() < deadline, (self.dir / "listener.err").read_text()
            time.sleep(0.05)

    def close(self) -> None:
        """End everything running in the namespaces and delete them; never raise."""
        if self._listener and self._listener.poll() is None:
            self._listener.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._listener.wait(timeout=5)
        for ns in self._made:
            self._end_processes(ns)
            sh("ip", "netns", "del", ns, check=False)
        self._made.clear()

    def _end_processes(self, ns: str) -> None:
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

    # -- the firewall -----------------------------------------------------------------------------

    def apply(self, **overrides: Any) -> dict[str, Any]:
        """Write the firewall state (this site's zones plus overrides) and apply it inside the box."""
        state = {
            "table": self.table,
            "wan_interfaces": ["wan0"],
            "lan_interfaces": ["lan0"],
            "tunnel_interfaces": ["tun0"],
            "lan_networks": ["10.78.1.0/24"],
            "wireguard_port": UDP_PORTS["wireguard"],
            "console_port": TCP_PORTS["console"],
            "pki_http_port": TCP_PORTS["pki_http"],
            "rtp_start": 16384,
            "rtp_end": 32768,
        } | overrides
        self.state.write_text(json.dumps(state), encoding="utf-8")
        return self.appliance("firewall", "apply", "--state", str(self.state), "--no-db", "--no-save")

    def appliance(self, *args: str) -> Any:
        """Run `appliance --json ARGS` inside the box; return its JSON."""
        proc = sh(
            "ip", "netns", "exec", self.ns["box"], sys.executable, "-m", "appliance", "--config",
            str(self.dir / "none.yml"), "--json", *args, timeout=60,
        )  # fmt: skip
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def nft(self, *args: str, stdin: str | None = None) -> str:
        return sh("ip", "netns", "exec", self.ns["box"], "nft", *args, stdin=stdin).stdout

    # -- probing ----------------------------------------------------------------------------------

    def reachable(self, zone: str, targets: dict[str, tuple[str, int]], host: str | None = None) -> dict[str, bool]:
        """Probe the box from a zone: name -> (proto, port); return name -> whether it answered."""
        host = host or ZONES[zone][1]
        spec = json.dumps([[proto, host, port] for proto, port in targets.values()])
        proc = sh("ip", "netns", "exec", self.ns[zone], sys.executable, str(self.dir / "probe.py"), spec)
        return dict(zip(targets, json.loads(proc.stdout), strict=True))

    def flood(self, zone: str, port: int, count: int) -> None:
        """Send count UDP packets to the box's port from zone, as fast as one socket can."""
        sh("ip", "netns", "exec", self.ns[zone], sys.executable, str(self.dir / "flood.py"), ZONES[zone][1],
           str(port), str(count))  # fmt: skip

    def received(self, proto: str, port: int, source: str) -> int:
        """Return how many packets or connections the box's listener got on a port from a source."""
        path = self.dir / "counts.json"
        counts = json.loads(path.read_text()) if path.exists() else {}
        return int(counts.get(f"{proto}/{port}/{source}", 0))

    def ping(self, zone: str, address: str | None = None) -> bool:
        """Return whether the box answers pings from zone (two, one second each at most)."""
        target = address or ZONES[zone][1]
        return sh("ip", "netns", "exec", self.ns[zone], "ping", "-n", "-q", "-c", "2", "-W", "1", target,
                  check=False).returncode == 0  # fmt: skip
