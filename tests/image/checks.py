# SPDX-License-Identifier: GPL-3.0-or-later
"""What every booted appliance must show from outside; the x86_64 and rpi boot tests call these in order."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from images import qemu
from tests.image.conftest import Guest

READY = r"appliance-firstboot: ready"
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
DATA = "/var/lib/appliance"


def first_boot_ready(guest: Guest) -> None:
    """The serial console says first boot is done."""
    assert re.search(READY, guest.vm.serial_text())


def _fingerprints(known_hosts_lines: list[str], tmp: Path) -> set[str]:
    keys = tmp / f"scan-{uuid.uuid4().hex}"
    keys.write_text("".join(f"{line}\n" for line in known_hosts_lines))
    out = subprocess.run(["ssh-keygen", "-lf", str(keys)], capture_output=True, text=True).stdout
    return set(FINGERPRINT.findall(out))


def ssh_host_keys_match_console(guest: Guest, tmp: Path) -> None:
    """The host keys SSH offers are the ones first boot printed; the test key logs in, strictly checked."""
    console = guest.vm.serial_text()
    ready = re.search(READY, console)
    assert ready
    shown = set(FINGERPRINT.findall(console[: ready.end() + 4000]))
    assert shown, "first boot printed no SSH host key fingerprints (SHA256:...) on the console"
    offered = guest.scan_host_keys()
    assert offered, "the guest offers no SSH host keys"
    scanned = _fingerprints(offered, tmp)
    assert scanned <= shown, f"host keys {scanned - shown} are not among the fingerprints on the console"
    guest.trust(offered)
    assert guest.out("echo ok") == "ok"


def no_failed_units(guest: Guest) -> None:
    """systemctl --failed lists nothing."""
    failed = guest.out("systemctl --failed --no-legend --plain")
    assert failed == "", f"failed units:\n{failed}"


def data_volume_luks2_mounted(guest: Guest) -> None:
    """/var/lib/appliance is a mounted dm-crypt mapping of a LUKS2 volume."""
    mount = json.loads(guest.out(f"findmnt -J -o SOURCE,TARGET,FSTYPE {DATA} || true") or '{"filesystems": []}')
    assert mount["filesystems"], f"nothing is mounted at {DATA}"
    source = mount["filesystems"][0]["source"]
    assert source.startswith("/dev/mapper/"), f"{DATA} is mounted from {source}, not a dm-crypt mapping"
    status = guest.out(f"cryptsetup status {source.removeprefix('/dev/mapper/')}")
    assert re.search(r"type:\s+LUKS2", status), status
    blocks = json.loads(guest.out("lsblk -J -o NAME,FSTYPE,FSVER"))
    flat = json.dumps(blocks)
    assert re.search(r'"fstype": "crypto_LUKS", "fsver": "2"', flat), f"no LUKS2 block device: {flat}"


def data_volume_sealed_to_the_tpm(guest: Guest) -> None:
    """First boot sealed the volume to the (swtpm) TPM2: a TPM2 token and a recovery slot, no initial key;
    the recovery key opens the header and a wrong one is refused."""
    mode = guest.out(f"head -n1 {DATA}/.storage-mode")
    assert mode == "mode=tpm2", f"{DATA}/.storage-mode says {mode!r}, not mode=tpm2 (a TPM was attached)"
    source = guest.out(f"findmnt -n -o SOURCE {DATA}")
    device = guest.out(f"cryptsetup status {source.removeprefix('/dev/mapper/')} | awk '$1==\"device:\" {{print $2}}'")
    dump = json.loads(guest.out(f"cryptsetup luksDump --dump-json-metadata {device}"))
    tokens = sorted(t["type"] for t in dump["tokens"].values())
    assert tokens == ["systemd-recovery", "systemd-tpm2"], tokens
    assert len(dump["keyslots"]) == 2, f"the initial key's slot should be gone: {sorted(dump['keyslots'])}"
    # No escrow key in the test image: the recovery key waits in a root-only file for a person to move.
    assert guest.out("stat -c %a /root/appliance-recovery-key") == "600"
    # Without --disable-external-tokens cryptsetup first unlocks through the TPM2 token and any key "works".
    test = f"cryptsetup open --test-passphrase --disable-external-tokens --key-file - {device}"
    assert guest.run(f"tr -d '\\n' < /root/appliance-recovery-key | {test}", check=False).returncode == 0
    assert guest.run(f"printf %s not-the-recovery-key | {test}", check=False).returncode != 0


def sip_options(port: int, proto: str = "udp", timeout: float = 5) -> str:
    """Send one SIP OPTIONS to 127.0.0.1:port and return the first response's text."""
    call_id = uuid.uuid4().hex
    msg = (
        f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{proto.upper()} 127.0.0.1:5999;branch=z9hG4bK{call_id[:16]};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={call_id[:8]}\r\n"
        f"To: <sip:probe@127.0.0.1:{port}>\r\n"
        f"Call-ID: {call_id}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Contact: <sip:probe@127.0.0.1>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(msg, ("127.0.0.1", port))
            return s.recv(65535).decode(errors="replace")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(msg)
        return s.recv(65535).decode(errors="replace")


def freeswitch_answers_options(guest: Guest, wait: float = 300) -> None:
    """FreeSWITCH is in the image and answers OPTIONS on the forwarded 5060, over UDP and TCP."""
    if not guest.freeswitch:
        label = guest.run("cat /etc/appliance/image-variant", check=False).stdout
        assert label.startswith("test-no-freeswitch"), f"a test image without FreeSWITCH is not labelled: {label!r}"
        pytest.skip("no FreeSWITCH on this build host: image built --test-without-freeswitch, SIP OPTIONS not checked")
    has_fs = guest.run("test -x /usr/local/bin/freeswitch || command -v freeswitch", check=False).returncode == 0
    assert has_fs, "FreeSWITCH is not in the image although the build was given a FreeSWITCH source"
    deadline = time.monotonic() + wait  # FreeSWITCH may still be loading its modules after ready
    answers: dict[str, str] = {}
    while time.monotonic() < deadline and len(answers) < 2:
        for proto in ("udp", "tcp"):
            if proto not in answers:
                with contextlib.suppress(OSError):  # not listening yet, or no answer within the timeout
                    answers[proto] = sip_options(guest.vm.ports["sip"], proto)
        time.sleep(5)
    for proto in ("udp", "tcp"):
        reply = answers.get(proto, "")
        assert reply.startswith("SIP/2.0 "), f"no SIP answer to OPTIONS over {proto} on 5060: {reply[:200]!r}"


def console_https_with_appliance_ca(guest: Guest, wait: float = 120) -> None:
    """The console answers HTTPS with a certificate chaining to the appliance's CA (skipped without a console)."""
    units = guest.out("systemctl list-unit-files --no-legend --plain 'appliance-console*' || true")
    if not units:
        pytest.skip("no appliance-console service in the image yet (the console is another issue)")
    chain = guest.out(f"cat {DATA}/pki/public/chain.pem")
    ctx = ssl.create_default_context(cadata=chain)
    ctx.check_hostname = False  # 127.0.0.1 through a forward is not the appliance's name; the chain is checked
    deadline = time.monotonic() + wait  # the console starts after the data volume, PostgreSQL and the CA
    status, error = "", ""
    while time.monotonic() < deadline and not status:
        try:
            with (
                socket.create_connection(("127.0.0.1", guest.vm.ports["https"]), timeout=30) as raw,
                ctx.wrap_socket(raw) as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: appliance\r\nConnection: close\r\n\r\n")
                status = tls.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        except ssl.SSLCertVerificationError:
            raise
        except OSError as exc:  # user networking resets a forwarded connection nobody accepts in the guest
            error = repr(exc)
            time.sleep(5)
    if not status:
        seen = guest.run(
            "systemctl status --no-pager -n 0 'appliance-console*';"
            " journalctl --no-pager -n 40 -u appliance-console; ss -ltnp | grep -E ':(443|8443) '",
            check=False,
        )
        pytest.fail(f"the console did not answer HTTPS within {wait:.0f}s ({error}):\n{seen.stdout}{seen.stderr}")
    assert re.match(r"HTTP/1\.[01] [23]\d\d", status), status


def firewall_guards_the_box(guest: Guest) -> None:
    """The product image's firewall is loaded: every wired NIC is the LAN, the rest is dropped.

    SSH, the console and SIP answering through the guest's NIC (the other checks) show what it lets in;
    the security image's test probes what it keeps out.
    """
    ruleset = guest.out("nft list table inet appliance")
    assert re.search(r'iifname \{ "en\*", "eth\*" \} jump from_lan', ruleset), ruleset
    assert "policy drop" in ruleset
    # The test key was authorised at build time, so SSH is opened to the LAN too (decision 20).
    lan = re.search(r"chain from_lan \{(.*?)\n\t\}", ruleset, re.DOTALL)
    assert lan and re.search(r"\btcp dport 22 accept", lan.group(1)), ruleset
    assert guest.out("systemctl is-enabled nftables.service appliance-pki-renew.timer").split() == ["enabled"] * 2


def metrics_exported(guest: Guest, wait: float = 180) -> None:
    """The exporter runs on the box (loopback until a fleet sets the tunnel) with the box's own health."""
    fetch = (
        'python3 -c "import urllib.request; '
        "print(urllib.request.urlopen('http://127.0.0.1:9478/metrics', timeout=20).read().decode())\""
    )
    deadline, proc = time.monotonic() + wait, None
    while time.monotonic() < deadline:  # the exporter starts after first boot and FreeSWITCH
        proc = guest.run(fetch, check=False, timeout=60)
        if proc.returncode == 0:
            break
        time.sleep(5)
    assert proc is not None and proc.returncode == 0, guest.run(
        "systemctl status --no-pager -n 20 appliance-metrics", check=False
    ).stdout
    text = proc.stdout
    # Storage and certificates are read as the service user: the data volume is encrypted and mounted,
    # and the CA's console certificate has a positive lifetime left.
    assert re.search(r"^appliance_storage_encrypted(\{[^}]*\})? 1\.0$", text, re.M), text[-3000:]
    assert re.search(r"^appliance_storage_mounted(\{[^}]*\})? 1\.0$", text, re.M), text[-3000:]
    expiry = re.findall(r"^appliance_certificate_expiry_seconds\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    assert expiry and all(float(v) > 0 for v in expiry), text[-3000:]
    assert re.search(r"^appliance_scrape_collector_success\{", text, re.M), text[-3000:]


def _identity(guest: Guest) -> dict[str, object]:
    # Every SSH command checks the host key strictly against the keys trusted before the reboot; the key
    # files' fingerprints are compared too (ssh-keyscan may miss a key type on a busy guest).
    return {
        "machine-id": guest.out("cat /etc/machine-id"),
        "hostname": guest.out("hostname"),
        "host keys": sorted(
            FINGERPRINT.findall(guest.out("for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $k; done"))
        ),
    }


def reboot_keeps_identity_and_unlocks(guest: Guest, timeout: float) -> None:
    """After a reboot: the same machine-id, hostname and host keys; the data volume unlocked unattended."""
    before = _identity(guest)
    assert before["machine-id"] and before["host keys"]
    boot_id = guest.out("cat /proc/sys/kernel/random/boot_id")
    guest.run("systemctl reboot", check=False)
    deadline = time.monotonic() + timeout
    came_back = False
    while time.monotonic() < deadline:
        proc = guest.run("cat /proc/sys/kernel/random/boot_id", check=False, timeout=60)
        assert "Host key verification failed" not in proc.stderr, "the SSH host key changed with the reboot"
        if proc.returncode == 0 and proc.stdout.strip() != boot_id:
            came_back = True
            break
        time.sleep(10)
    assert came_back, "the appliance did not come back over SSH after the reboot"
    unit = guest.out(f"systemd-escape -p --suffix=mount {DATA}")
    # nobody types a passphrase: the mount appears on its own, or never
    guest.run(f"timeout 600 sh -c 'until systemctl is-active -q {unit}; do sleep 2; done'", timeout=700, check=False)
    after = _identity(guest)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"the reboot changed the identity (before, after): {changed}"
    assert guest.out(f"findmnt -n -o SOURCE {DATA} || true").startswith("/dev/mapper/"), f"{DATA} not unlocked"
    assert guest.run(f"test -e {DATA}/.firstboot-done", check=False).returncode == 0
    assert guest.out("systemctl --failed --no-legend --plain") == ""


@contextlib.contextmanager
def booted(vm: qemu.Vm, guest: Guest, timeout: float, tail_lines: int = 40) -> Iterator[Guest]:
    """Start `vm`, wait for first boot's ready line and SSH, yield `guest`; the VM stops on the way out."""
    vm.start()
    try:
        try:
            vm.wait_for(READY, timeout)
            guest.wait_for_ssh(300)
        except (TimeoutError, RuntimeError) as exc:
            tail = "\n".join(vm.serial_text().splitlines()[-tail_lines:])
            pytest.fail(f"first boot never became ready: {exc}\nlast serial lines:\n{tail}", pytrace=False)
        yield guest
    finally:
        vm.stop()
