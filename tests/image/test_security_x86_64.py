# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted data volume inside the booted x86_64 image, under QEMU, with a real Tang server on this host.

One VM without a TPM, three boots (issue 5, "How it is tested"):
1. first boot binds the volume to Tang (reached at 10.0.2.2, the host's loopback through QEMU user-net) and
   seals the recovery key to the test's escrow public key; the test opens it with the private key, and the
   guest accepts it and refuses a wrong one;
2. reboot: unattended unlock through Tang;
   The firewall loaded at boot is checked on this boot too: PostgreSQL and the event socket are forwarded by
   QEMU like SSH and SIP but refused at the guest, SIP answers, and a REGISTER flood with a wrong password from
   a scanner in a network namespace inside the guest (its own address) gets that address banned while a phone
   that registered through QEMU (10.0.2.2) keeps registering; unauthenticated INVITEs to an outside number
   are refused every time and never reach the carrier (a listener in a second namespace), which the
   registered phone's call does reach; a WireGuard interface on the kernel module;
3. Tang stopped, reboot: degraded boot, `appliance storage status` says what is wrong, FreeSWITCH answers on
   its survival configuration and authenticates phones against hashed passwords; then the escrowed
   recovery key unlocks and mounts the volume by hand.

SECURITY_TEST_REUSE=1 boots the image a previous run built (build/security-test/).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyrage import x25519

from appliance.devstack.freeswitch import find_freeswitch
from appliance.storage import escrow
from images import REPO, project_version, qemu
from tests.harness import sipp
from tests.image import checks, unlock
from tests.image.conftest import Guest, _needs_build_host, _tail
from tests.image.make_bundle import make_bundle
from tests.unit.storage.tangd import Tang
from tests.unit.storage.tangd import missing as tang_missing

pytestmark = [pytest.mark.image, pytest.mark.image_security, pytest.mark.timeout(7200)]

WORK = REPO / "build" / "security-test"
PLAYBOOK = Path(__file__).with_name("test_security_image.yml")
BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT", "2400"))
# Forwarded too, to prove the firewall refuses them from outside (only SSH and SIP are for the network).
CONTROL_PORTS = {"postgresql": 5432, "esl": 8021}
GUEST_NIC = "enp0s2"  # the QEMU guest's NIC, named in test_security_image.yml's firewall_lan_interfaces
EXT = {"101": "Alice-pw-7f3k2q-Zr8w", "102": "Bob-pw-9x8c1z-Qm4tV"}  # the model wants 16+


@pytest.fixture(scope="module")
def security_image(test_key: Path) -> Path:
    """The product image plus the cryptstore role, built into build/security-test/."""
    _needs_build_host()
    if tang_missing():
        pytest.skip(f"security image test skipped: {tang_missing()}")
    binary = find_freeswitch()
    if binary is None:
        pytest.skip("no FreeSWITCH here: the security image test needs one for the survival calls")
    raw = WORK / "image" / "x86_64" / f"appliance-{project_version()}-x86_64.img"
    if os.environ.get("SECURITY_TEST_REUSE") == "1" and raw.exists():
        return raw
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "build-x86_64.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREESWITCH_")}
    env["FREESWITCH_BUNDLE"] = str(make_bundle(binary, WORK / "freeswitch-bundle-amd64.tar.gz"))
    cmd = [
        sys.executable, "-m", "images.build", "--target", "x86_64", "--playbook", str(PLAYBOOK),
        "--ssh-key", f"{test_key}.pub", "--build-dir", str(WORK / "image"), "--dist-dir", str(WORK / "dist"),
        "--cache-dir", str(REPO / "build" / "cache"),
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"the security image build failed (exit {proc.returncode}); {log}:\n{_tail(log)}", pytrace=False)
    return raw


class _Vm(qemu.Vm):
    """The product's VM with the control ports forwarded as well (the firewall test tries them)."""

    def command(self) -> list[str]:
        cmd = super().command()
        extra = "".join(f",hostfwd=tcp:127.0.0.1:{self.ports[name]}-:{port}" for name, port in CONTROL_PORTS.items())
        return [f"{arg}{extra}" if arg.startswith("user,id=net0,") else arg for arg in cmd]


@pytest.fixture(scope="module")
def guest(security_image: Path, test_key: Path, tang: Tang, hub_identity, tmp_path_factory) -> Guest:
    """Boot a copy without a TPM, Tang and the escrow key configured, and wait for first boot."""
    workdir = tmp_path_factory.mktemp("vm-security")
    disk = qemu.prepare_disk(security_image, workdir / "disk.img", "8G")
    unlock.put_settings(disk, unlock.tang_settings(tang, hub_identity), workdir / "mnt")
    ports = {**qemu.pick_ports(), **{name: qemu.pick_port(("tcp",)) for name in CONTROL_PORTS}}
    vm = _Vm(disk, workdir, ports, tpm=False, serial_log=workdir / "serial.log")
    with checks.booted(vm, Guest(vm, test_key, workdir, "root"), BOOT_TIMEOUT, tail_lines=60) as guest:
        yield guest


def test_first_boot_binds_the_volume_to_tang_and_removes_the_initial_key(guest: Guest):
    checks.data_volume_luks2_mounted(guest)
    assert unlock.bound_to_tang(guest) == []
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["mounted"] and not status["lab_mode"], status


def test_the_escrowed_recovery_key_opens_only_with_the_hub_key_and_wrong_keys_are_refused(guest: Guest, hub_identity):
    key = unlock.recovery_key(guest, hub_identity)
    with pytest.raises(escrow.EscrowError):
        unlock.recovery_key(guest, x25519.Identity.generate())
    device = unlock.luks_device(guest)
    test = f"cryptsetup open --test-passphrase --key-file - {device}"
    assert guest.run(f"printf %s '{key}' | {test}", check=False).returncode == 0
    wrong = key[:-1] + ("a" if key[-1] != "a" else "b")
    assert guest.run(f"printf %s '{wrong}' | {test}", check=False).returncode != 0


def test_reboot_unlocks_through_tang_unattended(guest: Guest):
    # PostgreSQL starts after first boot and the unlock unit; on a loaded TCG guest that takes minutes
    guest.run("timeout 900 sh -c 'until pg_isready -q; do sleep 3; done'", timeout=960)
    for number, password in EXT.items():
        guest.run(f"appliance extension add {number} Ext{number} --password {password}")
    # A carrier in a namespace inside the guest (the toll-fraud test listens there) and a route to it.
    guest.run(f"appliance trunk add carrier {CARRIER_NET[1]} --port 5060")
    guest.run(f"appliance route add outside --pattern {OUTSIDE_PATTERN} --trunk carrier")
    guest.run("appliance config apply")
    # appliance-survival-refresh.path sees the new `current` and refreshes the survival copy by itself
    refreshed = guest.run(
        "timeout 120 sh -c 'until grep -rqs a1-hash /var/lib/appliance-storage/survival/conf/directory;"
        " do sleep 2; done'",
        check=False,
        timeout=180,
    )
    assert refreshed.returncode == 0, guest.out("journalctl -u appliance-survival-refresh.service -n 30 --no-pager")
    unlock.reboot(guest, BOOT_TIMEOUT)
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["method"] == "tang", status
    assert guest.out("findmnt -n -o SOURCE /var/lib/appliance").startswith("/dev/mapper/")
    checks.freeswitch_answers_options(guest)


def test_the_certificate_renewal_timer_is_armed_and_its_run_succeeds(guest: Guest):
    assert guest.out("systemctl is-enabled appliance-pki-renew.timer") == "enabled"
    assert guest.out("systemctl is-active appliance-pki-renew.timer") == "active"
    guest.run("systemctl start appliance-pki-renew.service", timeout=300)
    result = guest.out("systemctl show -P Result appliance-pki-renew.service")
    assert result == "success", guest.out("journalctl -u appliance-pki-renew.service -n 30 --no-pager")
    assert guest.out("systemctl show -P ConditionResult appliance-pki-renew.service") == "yes"


# A scanner: REGISTERs answered by a wrong digest, until the box stops answering. Runs in the guest's netns.
SCANNER = r"""
import hashlib, json, os, re, socket, sys
host, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
md5 = lambda t: hashlib.md5(t.encode()).hexdigest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
me = os.popen("hostname -I").read().split()[0]
tally = {"sent": 0, "challenged": 0, "refused": 0, "timeouts": 0}
def send(cseq, auth=""):
    sp = s.getsockname()[1]
    lines = [f"REGISTER sip:{host} SIP/2.0", f"Via: SIP/2.0/UDP {me}:{sp};branch=z9hG4bK{os.urandom(6).hex()}",
             "Max-Forwards: 70", f"From: <sip:{user}@{host}>;tag=scan", f"To: <sip:{user}@{host}>",
             f"Call-ID: scan-{cseq}@{me}", f"CSeq: {cseq} REGISTER", f"Contact: <sip:{user}@{me}:{sp}>",
             "Expires: 60"]
    msg = "\r\n".join(lines) + "\r\n" + auth + "Content-Length: 0\r\n\r\n"
    s.sendto(msg.encode(), (host, port)); tally["sent"] += 1
    try:
        return s.recv(65535).decode(errors="replace")
    except socket.timeout:
        tally["timeouts"] += 1; return ""
s.bind(("0.0.0.0", 0))
for i in range(1, 41):
    reply = send(2 * i)
    if " 401 " in reply.split("\r\n")[0]:
        tally["challenged"] += 1
        realm = re.search(r'realm="([^"]*)"', reply).group(1); nonce = re.search(r'nonce="([^"]*)"', reply).group(1)
        uri = f"sip:{host}"
        resp = md5(f"{md5(f'{user}:{realm}:not-the-password')}:{nonce}:00000001:abc:auth:{md5(f'REGISTER:{uri}')}")
        auth = (f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"\r\n')
        if " 403 " in send(2 * i + 1, auth).split("\r\n")[0]:
            tally["refused"] += 1
    if tally["timeouts"] >= 3:
        break
print(json.dumps(tally))
"""
SCAN_NET = ("192.168.77.1", "192.168.77.2")


def _guest_ip(guest: Guest) -> str:
    return guest.out(f"ip -4 -o addr show dev {GUEST_NIC} | awk '{{print $4}}' | cut -d/ -f1")


def _host_gets_banner(port: int) -> bytes:
    """Connect to a forwarded port from the host; return what the guest's listener sent (b"" if nothing)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            conn.settimeout(20)
            return conn.recv(64)
    except OSError:
        return b""


def test_the_firewall_is_loaded_at_boot_and_keeps_the_control_ports_off_the_network(guest: Guest):
    assert guest.out("systemctl is-active nftables.service") == "active"
    assert "table inet appliance" in guest.out("nft list ruleset")
    ip = _guest_ip(guest)
    assert ip, guest.out("ip -o addr")
    # Listeners on the guest's own address (PostgreSQL and ESL hold 127.0.0.1): only the firewall stands between
    # them and the host, so a refusal here is the firewall's, not the services' loopback binding.
    listener = (
        "import socket,sys,threading\n"
        "def serve(p):\n"
        " s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        " s.bind((sys.argv[1],p)); s.listen()\n"
        " while True:\n"
        "  c,a=s.accept(); open('/run/fwprobe.log','a').write(f'{p} {a[0]}\\n'); c.sendall(b'HELLO\\n'); c.close()\n"
        f"for p in {sorted(CONTROL_PORTS.values())}: threading.Thread(target=serve,args=(p,)).start()\n"
    )
    guest.run(f"printf %s {shlex.quote(listener)} > /run/fwprobe.py; rm -f /run/fwprobe.log")
    guest.run(f"setsid -f python3 /run/fwprobe.py {ip} >/dev/null 2>&1 < /dev/null; sleep 2")
    try:
        for port in CONTROL_PORTS.values():  # the listener works: the guest itself reaches it (loopback)
            got = guest.out(
                f"python3 -c \"import socket; print(socket.create_connection(('{ip}', {port}), 10).recv(9))\""
            )
            assert "HELLO" in got, got
        for name in CONTROL_PORTS:
            assert _host_gets_banner(guest.vm.ports[name]) == b"", f"{name} reached from outside the box"
        hits = guest.out("cat /run/fwprobe.log")
        assert all(line.split()[1] == ip for line in hits.splitlines()), f"a connection from outside got in: {hits}"
        dropped = guest.out("nft list chain inet appliance input")
        assert "8021" in dropped and "5432" in dropped, dropped
    finally:
        guest.run("pkill -f /run/fwprobe.py", check=False)
    checks.freeswitch_answers_options(guest)  # SIP from the LAN side still answers


def test_a_register_flood_from_a_second_address_is_banned_while_the_phone_keeps_registering(guest: Guest, tmp_path):
    if not sipp.available():
        pytest.skip("sipp missing: the phone's registration needs it")
    assert guest.out("systemctl is-active appliance-sipguard.service || true") == "active", guest.out(
        "journalctl -u appliance-sipguard.service -n 30 --no-pager"
    )
    ok = _register(guest, tmp_path, "101", EXT["101"])
    assert ok.received("SIP/2.0 200"), ok.explain()
    status = _wait_firewall(guest, lambda rows: ("10.0.2.2", "trusted") in rows)
    box, scanner = SCAN_NET
    guest.run(
        "ip netns add scan && ip link add vscan0 type veth peer name vscan1 && ip link set vscan1 netns scan"
        f" && ip addr add {box}/24 dev vscan0 && ip link set vscan0 up && ip -n scan link set lo up"
        f" && ip -n scan addr add {scanner}/24 dev vscan1 && ip -n scan link set vscan1 up"
        f" && ip -n scan route add default via {box}"
    )
    guest.run(f"printf %s {shlex.quote(SCANNER)} > /run/scan.py")
    ip = _guest_ip(guest)
    first = json.loads(guest.out(f"ip netns exec scan python3 /run/scan.py {ip} 5060 102", timeout=300))
    assert first["challenged"] >= 1, first  # FreeSWITCH answered the scanner before the ban
    status = _wait_firewall(guest, lambda rows: (scanner, "banned") in rows)
    assert ("10.0.2.2", "banned") not in status, status
    again = json.loads(guest.out(f"ip netns exec scan python3 /run/scan.py {ip} 5060 102", timeout=300))
    assert again["challenged"] == 0 and again["timeouts"] >= 3, again  # dropped in the kernel now
    ok = _register(guest, tmp_path, "101", EXT["101"])
    assert ok.received("SIP/2.0 200"), ok.explain()


# The carrier: a UDP listener in its own namespace inside the guest, logging the first line of what reaches it.
CARRIER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5060))
with open(sys.argv[1], "a") as log:
    while True:
        data, addr = s.recvfrom(65535)
        log.write(data.split(b"\r\n", 1)[0].decode(errors="replace") + "\n")
        log.flush()
"""
CARRIER_NET = ("192.168.78.1", "192.168.78.2")
OUTSIDE_PATTERN = "0ZXXXXXXX."
OUTSIDE_NUMBER = "0301234567"


def test_unauthenticated_invites_to_an_outside_number_never_reach_the_carrier(guest: Guest, tmp_path):
    if not sipp.available():
        pytest.skip("sipp missing: the INVITEs need it")
    box, carrier = CARRIER_NET
    guest.run(
        "ip netns add carrier && ip link add vcar0 type veth peer name vcar1 && ip link set vcar1 netns carrier"
        f" && ip addr add {box}/24 dev vcar0 && ip link set vcar0 up && ip -n carrier link set lo up"
        f" && ip -n carrier addr add {carrier}/24 dev vcar1 && ip -n carrier link set vcar1 up"
    )
    guest.run(f"printf %s {shlex.quote(CARRIER)} > /run/carrier.py; rm -f /run/carrier.log; touch /run/carrier.log")
    guest.run("ip netns exec carrier setsid -f python3 /run/carrier.py /run/carrier.log >/dev/null 2>&1 </dev/null")
    target = f"127.0.0.1:{guest.vm.ports['sip']}"
    try:
        for i in range(5):
            probe = sipp.Sipp(
                tmp_path, "invite_refused.xml", target, service=OUTSIDE_NUMBER, timeout_s=20, name=f"unauth-{i}",
                keys={"from_user": "101", "from_name": "101"},  # posing as a phone, without its password
            ).run(timeout=40)  # fmt: skip
            codes = [m.first_line.split()[1] for m in probe.received("SIP/2.0 ")]
            finals = [code for code in codes if not code.startswith("1")]
            assert finals and finals[0] in ("401", "403", "407"), probe.explain()
        assert guest.out("cat /run/carrier.log") == "", "an unauthenticated INVITE reached the carrier"
        # The registered phone, with its password, does reach the carrier on that route: the route is real.
        sipp.Sipp(
            tmp_path, "call.xml", target, service=OUTSIDE_NUMBER, auth=("101", EXT["101"]),
            keys={"from_user": "101", "from_name": "101"}, timeout_s=15, name="phone-out",
        ).run(timeout=40)  # fmt: skip
        reached = guest.run(
            "timeout 30 sh -c 'until grep -q ^INVITE /run/carrier.log; do sleep 1; done'", check=False, timeout=60
        )
        assert reached.returncode == 0, guest.out("cat /run/carrier.log; fs_cli -x 'sofia status' 2>&1 | tail -5")
    finally:
        guest.run("pkill -f /run/carrier.py; ip netns del carrier", check=False)


def _wait_firewall(guest: Guest, ready, wait: float = 120) -> set[tuple[str, str]]:
    """Poll `appliance firewall status` until ready(rows) holds; return the (address, state) rows."""
    deadline = time.monotonic() + wait
    rows: set[tuple[str, str]] = set()
    while time.monotonic() < deadline:
        data = json.loads(guest.out("appliance firewall status --json"))
        rows = {(r["address"], r["state"]) for r in data.get("addresses", [])}
        if ready(rows):
            return rows
        time.sleep(3)
    raise AssertionError(f"the firewall's sets never reached the expected state: {sorted(rows)}")


def test_a_wireguard_interface_comes_up_on_the_kernel_module(guest: Guest):
    guest.run("ip link add wgtest0 type wireguard")  # fails without the kernel module
    try:
        guest.run(
            "umask 077; wg genkey > /run/wgtest.key && wg set wgtest0 private-key /run/wgtest.key listen-port 51999"
        )
        guest.run("ip addr add 10.99.0.1/24 dev wgtest0 && ip link set wgtest0 up")
        assert "wgtest0" in guest.out("ip link show type wireguard")
        assert guest.out("wg show wgtest0 public-key") == guest.out("wg pubkey < /run/wgtest.key")
        assert guest.out("lsmod | awk '$1==\"wireguard\"{print $1}'") == "wireguard"
    finally:
        guest.run("ip link del wgtest0; rm -f /run/wgtest.key", check=False)


def test_the_tunnel_unit_applies_a_described_tunnel_on_the_kernel_module(guest: Guest):
    """roles/wireguard's appliance-vpn.service, as enrol.yml leaves it: up, reloaded in place, down."""
    key = "/etc/appliance/wireguard/wg0.key"
    assert guest.out(f"stat -c %a {key}") == "600"  # made at first boot, on the root filesystem
    guest.run("appliance vpn pskgen --key /etc/appliance/wireguard/psk/hub.psk")
    hub_key = guest.out("wg genkey | wg pubkey")  # a hub that is not there: no handshake is needed here

    def describe(allowed: str) -> None:
        state = (
            "role: spoke\ninterface: wg0\naddresses: [10.200.0.7/16]\n"
            f"peers:\n  - name: hub\n    public_key: {hub_key}\n    endpoint: 10.0.2.2:51820\n"
            f"    allowed_ips: [{allowed}]\n    preshared_key_file: /etc/appliance/wireguard/psk/hub.psk\n"
        )
        guest.run(f"umask 077; printf '%s' '{state}' > /etc/appliance/vpn.yml")

    try:
        describe("10.200.0.0/16")
        guest.run("systemctl start appliance-vpn.service")
        link = json.loads(guest.out("ip -d -j link show wg0"))[0]
        assert link["linkinfo"]["info_kind"] == "wireguard"
        assert "10.200.0.7/16" in guest.out("ip -br addr show wg0")
        status = json.loads(guest.out("appliance --json vpn status"))
        assert [(p["name"], p["preshared_key"]) for p in status["peers"]] == [("hub", True)]

        describe("10.200.0.0/16, 10.250.0.0/16")
        guest.run("systemctl reload appliance-vpn.service")
        assert "10.250.0.0/16" in guest.out("ip route show dev wg0")
        assert json.loads(guest.out("ip -j link show wg0"))[0]["ifindex"] == link["ifindex"]  # changed in place

        guest.run("systemctl stop appliance-vpn.service")
        assert guest.run("ip link show wg0", check=False).returncode != 0
    finally:
        guest.run("systemctl stop appliance-vpn.service; rm -f /etc/appliance/vpn.yml", check=False)


def test_the_survival_configuration_holds_no_plaintext_phone_password(guest: Guest):
    for password in EXT.values():
        found = guest.run(f"grep -rl '{password}' /var/lib/appliance-storage/survival", check=False)
        assert found.returncode == 1, f"{password} in the survival config at rest: {found.stdout}"
    assert guest.run("grep -rl a1-hash /var/lib/appliance-storage/survival/conf/directory").returncode == 0


def _register(guest: Guest, tmp: Path, user: str, password: str) -> sipp.SippResult:
    return sipp.Sipp(
        tmp, "register.xml", f"127.0.0.1:{guest.vm.ports['sip']}", service=user, auth=(user, password), timeout_s=20
    ).run(timeout=40)


def test_without_tang_the_box_boots_degraded_and_phones_still_register(guest: Guest, tang: Tang, tmp_path):
    if not sipp.available():
        pytest.skip("sipp missing: the degraded SIP check needs it")
    tang.stop()
    unlock.reboot(guest, BOOT_TIMEOUT)
    status = unlock.status(guest)
    assert status["state"] == "degraded", status
    assert not status["mounted"] and status["survival"], status
    assert any("tang" in p for p in status["problems"]), status["problems"]
    text = guest.out("appliance storage status")
    assert "PROBLEM: the data volume could not be unlocked" in text, text
    _wait_active(guest, "appliance-survival.service")
    checks.freeswitch_answers_options(guest)
    ok = _register(guest, tmp_path, "101", EXT["101"])
    assert ok.received("SIP/2.0 200"), ok.explain()
    bad = _register(guest, tmp_path, "102", "not-the-password")
    assert not bad.received("SIP/2.0 200"), bad.explain()


def _wait_active(guest: Guest, unit: str, timeout: float = 120) -> None:
    """Wait until unit is active; a unit still starting or restarting after that fails with its journal."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = guest.out(f"systemctl is-active {unit} || true")
        if state == "active":
            return
        time.sleep(3)
    journal = guest.out(f"systemctl status --no-pager -l {unit} || true; journalctl -b --no-pager -u {unit} | tail -60")
    pytest.fail(f"{unit} is {state!r} after {timeout:.0f} s:\n{journal}")


def test_the_escrowed_recovery_key_unlocks_the_degraded_box(guest: Guest, hub_identity):
    key = unlock.recovery_key(guest, hub_identity)
    refused = guest.run("printf %s wrong-key | appliance storage unlock --recovery-key-file -", check=False)
    assert refused.returncode != 0 and "does not open" in (refused.stderr + refused.stdout)
    guest.run(f"printf %s '{key}' | appliance storage unlock --recovery-key-file -")
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["method"] == "recovery-key" and status["mounted"], status
    assert guest.run("test -e /var/lib/appliance/.firstboot-done", check=False).returncode == 0
