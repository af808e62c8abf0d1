# SPDX-License-Identifier: GPL-3.0-or-later
"""The image layer: build the x86_64 image once per session (with a FreeSWITCH bundle made here), boot a copy.

Environment: IMAGE_TEST_PLAYBOOK (another playbook than ansible/image.yml), IMAGE_TEST_REUSE=1 (boot the
image a previous session built instead of building again), IMAGE_BOOT_TIMEOUT (seconds to first-boot ready),
IMAGE_TEST_WITHOUT_FREESWITCH=1 (build the test image without FreeSWITCH even where one is installed; it is
built so anyway on a host without FreeSWITCH, e.g. CI).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyrage import x25519

from appliance.devstack.freeswitch import find_freeswitch
from images import REPO, project_version, qemu
from images.build import TEST_SUFFIX, image_name
from images.preflight import TEST_WITHOUT_FREESWITCH, host_arch
from tests.image.make_bundle import make_bundle
from tests.unit.storage.tangd import Tang
from tests.unit.storage.tangd import missing as tang_missing

WORK = REPO / "build" / "image-test"
TOOLS = ("mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "xz", "bmaptool", "qemu-system-x86_64", "ssh")
# seconds per build: the rpi base is made through qemu-user (about an hour cold on 2 cores)
BUILD_TIMEOUT = {"x86_64": 3600, "rpi": 3 * 3600}


def _missing_tools() -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    try:
        qemu.first_existing(qemu.OVMF_CODE)
    except FileNotFoundError:
        missing.append("OVMF")
    return missing


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


@pytest.fixture(scope="session")
def test_key() -> Path:
    """An SSH key made for the image tests; its public half goes into the image."""
    key = WORK / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "image-test", "-f", str(key)], check=True)
    return key


def _playbook() -> Path:
    playbook = Path(os.environ.get("IMAGE_TEST_PLAYBOOK", REPO / "ansible" / "image.yml"))
    if not playbook.is_file():
        pytest.xfail(f"{playbook} does not exist yet: the roles half of docs/image-contract.md")
    return playbook


def _needs_build_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("image tests need root (mmdebstrap, chroot, mounts): skipped")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"image tools missing ({', '.join(missing)}; make image-deps): image tests skipped")


def has_freeswitch(raw: Path) -> bool:
    """Tell whether a built image has FreeSWITCH (a test image built without it says so in its name)."""
    return not raw.name.endswith(f"{TEST_SUFFIX}.img")


def _forced_without_freeswitch() -> bool:
    return os.environ.get("IMAGE_TEST_WITHOUT_FREESWITCH") == "1"


def _build(target: str, bundle: Path | None, key: Path) -> Path:
    """Build `target` into build/image-test/ with `bundle` (None: a test image without FreeSWITCH); return it."""
    playbook = _playbook()
    raw = WORK / "image" / target / image_name(project_version(), target, bundle is None)
    if os.environ.get("IMAGE_TEST_REUSE") == "1" and raw.exists():
        return raw
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / f"build-{target}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREESWITCH_")}
    cmd = [
        sys.executable, "-m", "images.build", "--target", target, "--playbook", str(playbook),
        "--ssh-key", f"{key}.pub", "--build-dir", str(WORK / "image"), "--dist-dir", str(WORK / "dist"),
        "--cache-dir", str(REPO / "build" / "cache"),
    ]  # fmt: skip
    if bundle is None:
        cmd.append(TEST_WITHOUT_FREESWITCH)
    else:
        env["FREESWITCH_BUNDLE"] = str(bundle)
    timeout = BUILD_TIMEOUT[target]
    with log.open("w") as out:
        # its own process group: on a timeout the whole build stops (mmdebstrap, apt, qemu-user children
        # outlived a killed builder before), and SIGTERM lets the builder undo its mounts first
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            pytest.fail(f"the {target} image build took over {timeout} s; {log}:\n{_tail(log)}", pytrace=False)
    if rc != 0:
        pytest.fail(f"the {target} image build failed (exit {rc}); {log}:\n{_tail(log)}", pytrace=False)
    return raw


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop a build and everything it started: SIGTERM to its group, SIGKILL after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=120)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="session")
def x86_64_image(test_key: Path) -> Path:
    """Build the x86_64 image with the test key authorised and a bundle of the local FreeSWITCH, if any.

    Without an amd64 FreeSWITCH here (CI) the image is built with --test-without-freeswitch: every check
    runs but the SIP one, which skips naming why.
    """
    _needs_build_host()
    _playbook()
    binary = find_freeswitch()
    if binary is None or host_arch() != "amd64" or _forced_without_freeswitch():
        return _build("x86_64", None, test_key)
    return _build("x86_64", make_bundle(binary, WORK / "freeswitch-bundle-amd64.tar.gz"), test_key)


@pytest.fixture(scope="session")
def rpi_image(test_key: Path) -> Path:
    """Build the rpi image with an arm64 FreeSWITCH bundle (FREESWITCH_BUNDLE_ARM64, or the local one on arm64).

    Without one it is built with --test-without-freeswitch (the SIP check then skips naming why).
    """
    _needs_build_host()
    given = os.environ.get("FREESWITCH_BUNDLE_ARM64")
    binary = find_freeswitch()
    bundle: Path | None = None
    if _forced_without_freeswitch():
        bundle = None
    elif given:
        bundle = Path(given)
    elif binary is not None and host_arch() == "arm64":
        bundle = make_bundle(binary, WORK / "freeswitch-bundle-arm64.tar.gz")
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("qemu-system-aarch64 missing (make image-deps): rpi image test skipped")
    _playbook()
    return _build("rpi", bundle, test_key)


class Guest:
    """A booted appliance seen from outside: SSH to the forwarded port with the test key."""

    def __init__(self, vm: qemu.Vm, key: Path, workdir: Path, user: str, freeswitch: bool = True):
        self.vm = vm
        self.freeswitch = freeswitch  # False: a test image built without FreeSWITCH
        self.key = key
        self.user = user
        self.known_hosts = workdir / "known_hosts"

    @property
    def ssh_port(self) -> int:
        """Return the loopback port forwarded to the guest's SSH."""
        return self.vm.ports["ssh"]

    def scan_host_keys(self) -> list[str]:
        """Return the SSH host keys the guest offers, as known_hosts lines."""
        proc = subprocess.run(
            ["ssh-keyscan", "-T", "20", "-p", str(self.ssh_port), "127.0.0.1"], capture_output=True, text=True
        )
        return [line for line in proc.stdout.splitlines() if line and not line.startswith("#")]

    def wait_for_ssh(self, timeout: float) -> None:
        """Wait until the guest's SSH server offers host keys (it starts just after first boot's ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scan_host_keys():
                return
            time.sleep(5)
        raise TimeoutError(f"no SSH server answered on 127.0.0.1:{self.ssh_port} within {timeout:.0f}s")

    def trust(self, lines: list[str]) -> None:
        """Make `lines` the only known host keys (StrictHostKeyChecking stays on)."""
        self.known_hosts.write_text("".join(f"{line}\n" for line in lines))

    def run(self, command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell command on the guest (as root: through sudo -n when the SSH user is not root)."""
        if not self.known_hosts.exists():
            # trust on first use, so every check can log in; the fingerprint test compares them to the console
            self.trust(self.scan_host_keys())
        if self.user != "root":
            command = f"sudo -n sh -c {shlex.quote(command)}"
        cmd = [*qemu.ssh_command(self.ssh_port, self.key, self.known_hosts, self.user), command]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            # slirp accepts the connection even while the guest is down (rebooting): count it as failed
            proc = subprocess.CompletedProcess(cmd, 255, "", f"timed out after {timeout}s")
        if check and proc.returncode != 0:
            raise AssertionError(f"on the guest, {command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def out(self, command: str, timeout: float = 120) -> str:
        """Return a guest command's stdout, stripped."""
        return self.run(command, timeout=timeout).stdout.strip()


@pytest.fixture(scope="module")
def tang(tmp_path_factory):
    """A real Tang server on the host's loopback; a QEMU guest reaches it as 10.0.2.2."""
    if tang_missing():
        pytest.skip(f"Tang image test skipped: {tang_missing()}")
    server = Tang(tmp_path_factory.mktemp("tang")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub_identity() -> x25519.Identity:
    """The fleet's escrow key pair; the private half stays with the test (the hub)."""
    return x25519.Identity.generate()
