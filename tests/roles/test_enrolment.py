# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible/enrol.yml end to end: a hub and two appliances as chroots, then their tunnels for real.

The playbook runs the real `appliance` command in each chroot (CA, WireGuard keys), through
Ansible's chroot connection, with the hub's tasks delegated as in a fleet. Checked afterwards:
each appliance's intermediate is signed by the hub's root and constrained to that box's names, its
service certificates verify with OpenSSL, the hub has one peer per appliance with the box's own
public key and a preshared key both ends share; a second run changes nothing. Then the same state
files bring the tunnels up in two network namespaces (wireguard-go): the appliance reaches the hub
and the network behind it through the tunnel, and fetches the hub's CA files and binds a secret to the
hub's Tang through it (the hub's units' commands run in its namespace).
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from pyrage import x25519

from appliance.storage import escrow
from tests.network.fabric import HUB_PORT, HUB_UNDERLAY, TRUNK_HOST, TRUNK_NET, Fabric, fence, missing_tools
from tests.roles import chroots
from tests.unit.storage.tangd import missing as tang_missing

pytestmark = pytest.mark.network

BOOK = chroots.REPO / "ansible" / "enrol.yml"
APPLIANCES = {"pbx-a": "10.77.0.2", "pbx-b": "10.77.0.3"}
HUB_TUNNEL = "10.77.0.1"
UUID = "0f4c2a7e-5b1d-4e8a-9c3f-2d6b8a1e7c40"
RECOVERY_KEY = "fjdkslrieuvnchgt-bnmvcxzlkjhgfdsa-qwertyuiopasdfgh-zxcvbnmlkjhgfdsa"
KEY_DIR = Path("etc/appliance/wireguard")

for reason in (chroots.missing(), missing_tools(), tang_missing()):
    if reason:
        pytest.skip(f"{reason}: enrolment test skipped", allow_module_level=True)


def inventory(roots: dict[str, Path]) -> dict:
    return {
        "all": {
            "vars": {"ansible_connection": "community.general.chroot"},
            "children": {
                "hubs": {
                    "hosts": {
                        "hub": {
                            "ansible_host": str(roots["hub"]),
                            "hub_endpoint": f"{HUB_UNDERLAY}:{HUB_PORT}",
                            "hub_wireguard_network": "10.77.0.0/24",
                            "hub_tunnel_address": f"{HUB_TUNNEL}/24",
                            "hub_routed_networks": [TRUNK_NET],
                            "hub_ca_name": "Test Fleet Root CA",
                            # The chroot's /usr is this machine's (read-only): the packages are there already.
                            "hub_install_package": False,
                            "hub_packages": [],
                        }
                    }
                },
                "appliances": {
                    "hosts": {
                        name: {"ansible_host": str(roots[name]), "wireguard_address": f"{address}/24"}
                        for name, address in APPLIANCES.items()
                    }
                },
            },
        }
    }


@pytest.fixture
def fleet_roots(tmp_path):
    """Three chroots with the real appliance command: the hub and two appliances."""
    roots: dict[str, Path] = {}
    with (
        chroots.chroot(tmp_path / "hub", real_command=True) as hub,
        chroots.chroot(tmp_path / "pbx-a", real_command=True) as a,
        chroots.chroot(tmp_path / "pbx-b", real_command=True) as b,
    ):
        roots.update(hub=hub, **{"pbx-a": a, "pbx-b": b})
        yield roots


def enrol(roots: dict[str, Path], tmp_path: Path) -> subprocess.CompletedProcess:
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(yaml.safe_dump(inventory(roots)))
    return chroots.playbook(hosts, BOOK, tmp_path)


def inside(root: Path, *args: str, ns: str | None = None) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return chroots.run(*prefix, "chroot", str(root), "/usr/local/bin/appliance", *args)


def test_enrolment_signs_each_ca_pairs_the_keys_and_the_tunnel_carries_traffic(fleet_roots, tmp_path):
    roots = fleet_roots
    # pbx-a's first boot sealed its volume's recovery key to the fleet's escrow key; pbx-b has none.
    escrow_identity = x25519.Identity.generate()
    (tmp_path / "escrow.key").write_text(str(escrow_identity))
    sealed = escrow.write_sealed(
        roots["pbx-a"] / "var/lib/appliance-storage/escrow", UUID, RECOVERY_KEY, str(escrow_identity.to_public())
    )
    first = enrol(roots, tmp_path)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert all(counts["failed"] == 0 for counts in chroots.recap(first.stdout).values())

    hub = roots["hub"]
    ca = hub / "var/lib/appliance-hub/ca"
    hub_state = yaml.safe_load((hub / "etc/appliance/vpn.yml").read_text())
    assert hub_state["role"] == "hub" and hub_state["listen_port"] == HUB_PORT
    peers = {p["name"]: p for p in hub_state["peers"]}
    assert set(peers) == set(APPLIANCES)
    hub_key = inside(hub, "vpn", "pubkey", "--key", f"/{KEY_DIR}/wg0.key").stdout.strip()

    for name, address in APPLIANCES.items():
        box = roots[name]
        pki = box / "var/lib/appliance/pki"
        # The box's CA: signed by the hub's root, constrained to the box's name and tunnel address.
        chain = chroots.run("openssl", "verify", "-CAfile", str(ca / "root.pem"), str(pki / "intermediate.pem"))
        assert chain.returncode == 0, chain.stdout + chain.stderr
        text = chroots.run("openssl", "x509", "-noout", "-ext", "nameConstraints", "-in", str(pki / "intermediate.pem"))
        assert f"DNS:{name}" in text.stdout and f"IP:{address}/255.255.255.255" in text.stdout, text.stdout
        current = json.loads(inside(box, "--json", "pki", "list").stdout)
        assert sorted(r["profile"] for r in current) == ["console", "sip"]
        for record in current:
            leaf = pki / "issued" / f"{record['serial']}.pem"
            verify = chroots.run(
                "openssl", "verify", "-CAfile", str(ca / "root.pem"), "-untrusted", str(pki / "intermediate.pem"),
                "-purpose", "sslserver", str(leaf),
            )  # fmt: skip
            assert verify.returncode == 0, verify.stdout + verify.stderr
            assert name in record["names"] and address in record["names"], record
        # The private key stayed on the box; only its public half is on the hub.
        assert not [p for top in ("etc", "var") for p in (hub / top).rglob("intermediate.key")]
        box_key = inside(box, "vpn", "pubkey").stdout.strip()
        assert peers[name]["public_key"] == box_key
        assert peers[name]["allowed_ips"] == [f"{address}/32"]
        # One preshared key per appliance, the same at both ends, root-only at both ends.
        hub_psk = hub / KEY_DIR / "psk" / f"{name}.psk"
        box_psk = box / KEY_DIR / "psk" / "hub.psk"
        assert hub_psk.read_text().strip() == box_psk.read_text().strip()
        assert stat.S_IMODE(hub_psk.stat().st_mode) == stat.S_IMODE(box_psk.stat().st_mode) == 0o600
        spoke = yaml.safe_load((box / "etc/appliance/vpn.yml").read_text())
        assert spoke["role"] == "spoke" and spoke["addresses"] == [f"{address}/24"]
        assert spoke["peers"][0]["public_key"] == hub_key
        assert spoke["peers"][0]["allowed_ips"] == ["10.77.0.0/24", TRUNK_NET]
        assert (box / "etc/systemd/system/multi-user.target.wants/appliance-vpn.service").is_symlink()
    # The sealed recovery key is on the hub, and only the escrow key opens it there.
    kept = hub / "var/lib/appliance-hub/escrow/pbx-a" / sealed.name
    assert kept.read_bytes() == sealed.read_bytes() and stat.S_IMODE(kept.stat().st_mode) == 0o600
    opened = chroots.run(
        str(chroots.VENV_BIN / "python"), "-m", "appliance", "storage", "escrow-open", str(kept),
        "--identity", str(tmp_path / "escrow.key"),
    )  # fmt: skip
    assert opened.returncode == 0 and opened.stdout.strip() == RECOVERY_KEY, opened.stderr
    assert not (hub / "var/lib/appliance-hub/escrow/pbx-b").exists()
    psks = {(hub / KEY_DIR / "psk" / f"{n}.psk").read_text() for n in APPLIANCES}
    assert len(psks) == len(APPLIANCES)
    assert (ca / "public" / "root.crl").is_file()
    assert (hub / "etc/systemd/system/timers.target.wants/appliance-hub-crl.timer").is_symlink()

    again = enrol(roots, tmp_path)
    assert again.returncode == 0, again.stdout[-4000:]
    assert {h: c["changed"] for h, c in chroots.recap(again.stdout).items()} == dict.fromkeys(
        ["hub", *APPLIANCES], 0
    ), again.stdout[-4000:]

    # site.yml runs the wireguard role without the hub's key: the enrolled tunnel is left as it is.
    # (No packages: the chroot's /usr is this machine's, wireguard-tools is there already.)
    state = (roots["pbx-a"] / "etc/appliance/vpn.yml").read_bytes()
    site = chroots.apply_role(
        "wireguard", roots["pbx-a"], tmp_path,
        appliance_image_build=False, wireguard_address="10.77.0.2/24", wireguard_packages=[],
    )  # fmt: skip
    assert site.returncode == 0 and chroots.changed(site) == 0, site.stdout[-3000:]
    assert (roots["pbx-a"] / "etc/appliance/vpn.yml").read_bytes() == state
    assert (roots["pbx-a"] / "etc/systemd/system/multi-user.target.wants/appliance-vpn.service").is_symlink()

    fabric = Fabric(tmp_path).create()
    try:
        # The site fence in the fabric expects a fixed site port; a spoke's port is random: let it
        # talk to the hub's WireGuard port only.
        chroots.run("ip", "netns", "exec", fabric.site, "nft", "delete", "table", "inet", "fca_fence")
        done = chroots.run("ip", "netns", "exec", fabric.site, "nft", "-f", "-", input=fence(HUB_PORT, peer_port=True))
        assert done.returncode == 0, done.stderr
        for root, ns in ((hub, fabric.hub), (roots["pbx-a"], fabric.site)):
            up = inside(root, "--json", "vpn", "up", ns=ns)
            assert up.returncode == 0, up.stderr
        assert fabric.ping(fabric.site, HUB_TUNNEL)
        assert fabric.ping(fabric.site, TRUNK_HOST)
        status = json.loads(inside(roots["pbx-a"], "--json", "vpn", "status", ns=fabric.site).stdout)
        assert [(p["name"], p["state"], p["preshared_key"]) for p in status["peers"]] == [("hub", "up", True)]
        hub_services_answer_through_the_tunnel(hub, fabric)
    finally:
        fabric.close()


def _unit_value(path: Path, key: str) -> str:
    """Return the last non-empty `key=` of a unit file (a drop-in's empty one resets the list)."""
    values = [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]
    return [v for v in values if v][-1]


def hub_services_answer_through_the_tunnel(hub: Path, fabric: Fabric) -> None:
    """Run the hub's CA publisher and Tang as the role's units describe them, in the hub's namespace.

    systemd does not run in a chroot: the publisher's ExecStart runs as written (the real command, in
    the hub's chroot), and Tang on the drop-in's ListenStream behind socat, one tangd per connection
    as Debian's tangd.socket (Accept=true) and tangd@.service run it. The appliance fetches both
    through the tunnel.
    """
    publish = _unit_value(hub / "etc/systemd/system/appliance-hub-publish.service", "ExecStart").split()
    listen = _unit_value(hub / "etc/systemd/system/tangd.socket.d/appliance-hub.conf", "ListenStream")
    assert listen == f"{HUB_TUNNEL}:7500"
    address, port = listen.rsplit(":", 1)
    jwk = hub / "var/lib/tang"
    jwk.mkdir(parents=True, exist_ok=True)
    in_hub = ["ip", "netns", "exec", fabric.hub]
    servers = [
        subprocess.Popen([*in_hub, "chroot", str(hub), *publish], stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [*in_hub, "socat", f"TCP-LISTEN:{port},bind={address},fork,reuseaddr", f"EXEC:/usr/libexec/tangd {jwk}"],
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        fetch = ["ip", "netns", "exec", fabric.site, "curl", "-fsS", "--retry", "30", "--retry-connrefused"]
        fetch += ["--retry-delay", "1", "--max-time", "60"]
        root = subprocess.run([*fetch, f"http://{HUB_TUNNEL}/pki/root.pem"], capture_output=True, timeout=90)
        assert root.returncode == 0, root.stderr
        assert root.stdout == (hub / "var/lib/appliance-hub/ca/public/root.pem").read_bytes()
        crl = subprocess.run([*fetch, f"http://{HUB_TUNNEL}/pki/root.crl"], capture_output=True, timeout=90)
        assert crl.returncode == 0 and crl.stdout == (hub / "var/lib/appliance-hub/ca/public/root.crl").read_bytes()
        # What an appliance's first boot does with the hub's Tang: bind a secret, then get it back.
        assert subprocess.run([*fetch, f"http://{listen}/adv"], capture_output=True, timeout=90).returncode == 0
        clevis = ["ip", "netns", "exec", fabric.site, "clevis"]
        bound = subprocess.run(
            [*clevis, "encrypt", "tang", json.dumps({"url": f"http://{listen}"}), "-y"],
            input=b"unlock-me", capture_output=True, timeout=60,
        )  # fmt: skip
        assert bound.returncode == 0, bound.stderr
        opened = subprocess.run([*clevis, "decrypt"], input=bound.stdout, capture_output=True, timeout=60)
        assert opened.returncode == 0 and opened.stdout == b"unlock-me", opened.stderr
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
