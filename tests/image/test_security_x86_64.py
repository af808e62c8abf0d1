# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted data volume inside the booted x86_64 image, under QEMU, with a real Tang server on this host.

One VM without a TPM, three boots (issue 5, "How it is tested"):
1. first boot binds the volume to Tang (reached at 10.0.2.2, the host's loopback through QEMU user-net) and
   seals the recovery key to the test's escrow public key; the test opens it with the private key, and the
   guest accepts it and refuses a wrong one;
2. reboot: unattended unlock through Tang;
3. Tang stopped, reboot: degraded boot, `appliance storage status` says what is wrong, FreeSWITCH answers on
   its survival configuration and authenticates phones against hashed passwords; then the escrowed
   recovery key unlocks and mounts the volume by hand.

SECURITY_TEST_REUSE=1 boots the image a previous run built (build/security-test/).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyrage import x25519

from appliance.devstack.freeswitch import find_freeswitch
from appliance.storage import escrow
from images import REPO, project_version, qemu
from images.disk import SECTOR, read_table
from tests.harness import sipp
from tests.image import checks
from tests.image.conftest import Guest, _needs_build_host, _tail
from tests.image.make_bundle import make_bundle
from tests.unit.storage.tangd import Tang
from tests.unit.storage.tangd import missing as tang_missing

pytestmark = [pytest.mark.image, pytest.mark.timeout(7200)]

WORK = REPO / "build" / "security-test"
PLAYBOOK = Path(__file__).with_name("test_security_image.yml")
BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT", "2400"))
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


@pytest.fixture(scope="module")
def tang(tmp_path_factory):
    """A real Tang server on the host's loopback; the guest reaches it as 10.0.2.2."""
    server = Tang(tmp_path_factory.mktemp("tang")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub_identity() -> x25519.Identity:
    """The fleet's escrow key pair; the private half stays with the test (the hub)."""
    return x25519.Identity.generate()


def _put_settings(disk: Path, text: str, mnt: Path) -> None:
    """Write /etc/appliance/storage.yml into the image copy's root filesystem (a loop mount at its offset)."""
    parts = read_table(disk)["partitions"]
    root = max(parts, key=lambda p: p["size"])
    mnt.mkdir(parents=True, exist_ok=True)
    offset, size = root["start"] * SECTOR, root["size"] * SECTOR
    subprocess.run(["mount", "-o", f"loop,offset={offset},sizelimit={size}", str(disk), str(mnt)], check=True)
    try:
        (mnt / "etc" / "appliance" / "storage.yml").write_text(text)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.fixture(scope="module")
def guest(security_image: Path, test_key: Path, tang: Tang, hub_identity, tmp_path_factory) -> Guest:
    """Boot a copy without a TPM, Tang and the escrow key configured, and wait for first boot."""
    workdir = tmp_path_factory.mktemp("vm-security")
    disk = qemu.prepare_disk(security_image, workdir / "disk.img", "8G")
    settings = {
        "tang_servers": [{"url": f"http://10.0.2.2:{tang.port}", "thp": tang.thumbprint}],
        "tang_wait": 60,
        "escrow_public_key": str(hub_identity.to_public()),
        "escrow_dir": "/var/lib/appliance-storage/escrow",
        "survival_dir": "/var/lib/appliance-storage/survival",
    }
    _put_settings(disk, json.dumps(settings, indent=2) + "\n", workdir / "mnt")
    vm = qemu.Vm(disk, workdir, qemu.pick_ports(), tpm=False, serial_log=workdir / "serial.log").start()
    try:
        g = Guest(vm, test_key, workdir, "root")
        try:
            vm.wait_for(checks.READY, BOOT_TIMEOUT)
            g.wait_for_ssh(300)
        except (TimeoutError, RuntimeError) as exc:
            tail = "\n".join(vm.serial_text().splitlines()[-60:])
            pytest.fail(f"first boot never became ready: {exc}\nlast serial lines:\n{tail}", pytrace=False)
        yield g
    finally:
        vm.stop()


def _status(guest: Guest) -> dict:
    return json.loads(guest.out("appliance storage status --json"))


def _reboot(guest: Guest) -> None:
    boot_id = guest.out("cat /proc/sys/kernel/random/boot_id")
    guest.run("systemctl reboot", check=False)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        proc = guest.run("cat /proc/sys/kernel/random/boot_id", check=False, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip() not in ("", boot_id):
            break
        time.sleep(10)
    else:
        raise AssertionError("the appliance did not come back over SSH after the reboot")
    # the unlock unit has finished (either way) before the checks look
    guest.run(
        "timeout 900 sh -c 'until systemctl show -P ActiveState appliance-storage-unlock.service"
        " | grep -qx -e active -e failed; do sleep 3; done'",
        timeout=960,
    )


def _device(guest: Guest) -> str:
    """Return the LUKS partition (a Tang box has no crypttab line: found by its header's label)."""
    return guest.out('lsblk -rpno PATH,FSTYPE,LABEL | awk \'$2=="crypto_LUKS" && $3=="appliance-data" {print $1}\'')


def _recovery_key(guest: Guest, identity) -> str:
    uuid = guest.out(f"cryptsetup luksUUID {_device(guest)}")
    sealed = guest.out(f"base64 -w0 /var/lib/appliance-storage/escrow/{uuid}.age")
    return escrow.open_sealed(base64.b64decode(sealed), str(identity))


def test_first_boot_binds_the_volume_to_tang_and_removes_the_initial_key(guest: Guest):
    checks.data_volume_luks2_mounted(guest)
    mode = guest.out("cat /var/lib/appliance/.storage-mode")
    assert mode.startswith("mode=tang"), mode
    device = _device(guest)
    assert device, guest.out("lsblk -rpno PATH,FSTYPE,LABEL")
    dump = json.loads(guest.out(f"cryptsetup luksDump --dump-json-metadata {device}"))
    kinds = sorted(t["type"] for t in dump["tokens"].values())
    assert kinds == ["clevis", "systemd-recovery"], kinds
    assert len(dump["keyslots"]) == 2, f"the initial key's slot should be gone: {sorted(dump['keyslots'])}"
    assert guest.run("test -e /var/lib/appliance-firstboot/initial.key", check=False).returncode != 0
    assert guest.run("test -e /root/appliance-recovery-key", check=False).returncode != 0, "plaintext recovery key"
    assert guest.run("grep -q '^appliance-data ' /etc/crypttab", check=False).returncode != 0, "a crypttab line"
    status = _status(guest)
    assert status["state"] == "unlocked" and status["mounted"] and not status["lab_mode"], status


def test_the_escrowed_recovery_key_opens_only_with_the_hub_key_and_wrong_keys_are_refused(guest: Guest, hub_identity):
    key = _recovery_key(guest, hub_identity)
    with pytest.raises(escrow.EscrowError):
        _recovery_key(guest, x25519.Identity.generate())
    device = _device(guest)
    test = f"cryptsetup open --test-passphrase --key-file - {device}"
    assert guest.run(f"printf %s '{key}' | {test}", check=False).returncode == 0
    wrong = key[:-1] + ("a" if key[-1] != "a" else "b")
    assert guest.run(f"printf %s '{wrong}' | {test}", check=False).returncode != 0


def test_reboot_unlocks_through_tang_unattended(guest: Guest):
    # PostgreSQL starts after first boot and the unlock unit; on a loaded TCG guest that takes minutes
    guest.run("timeout 900 sh -c 'until pg_isready -q; do sleep 3; done'", timeout=960)
    for number, password in EXT.items():
        guest.run(f"appliance extension add {number} Ext{number} --password {password}")
    guest.run("appliance config apply")
    guest.run("appliance storage survival-refresh")
    _reboot(guest)
    status = _status(guest)
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
    _reboot(guest)
    status = _status(guest)
    assert status["state"] == "degraded", status
    assert not status["mounted"] and status["survival"], status
    assert any("tang" in p for p in status["problems"]), status["problems"]
    text = guest.out("appliance storage status")
    assert "PROBLEM: the data volume could not be unlocked" in text, text
    assert guest.out("systemctl is-active appliance-survival.service || true") == "active"
    checks.freeswitch_answers_options(guest)
    ok = _register(guest, tmp_path, "101", EXT["101"])
    assert ok.received("SIP/2.0 200"), ok.explain()
    bad = _register(guest, tmp_path, "102", "not-the-password")
    assert not bad.received("SIP/2.0 200"), bad.explain()


def test_the_escrowed_recovery_key_unlocks_the_degraded_box(guest: Guest, hub_identity):
    key = _recovery_key(guest, hub_identity)
    refused = guest.run("printf %s wrong-key | appliance storage unlock --recovery-key-file -", check=False)
    assert refused.returncode != 0 and "does not open" in (refused.stderr + refused.stdout)
    guest.run(f"printf %s '{key}' | appliance storage unlock --recovery-key-file -")
    status = _status(guest)
    assert status["state"] == "unlocked" and status["method"] == "recovery-key" and status["mounted"], status
    assert guest.run("test -e /var/lib/appliance/.firstboot-done", check=False).returncode == 0
