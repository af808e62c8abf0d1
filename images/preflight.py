# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks that run before anything slow: the FreeSWITCH source first, then tools, playbook and binfmt."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time this module needs only the standard library (make image runs it first)
    from images.target import Target

SOURCE_VARS = ("FREESWITCH_SIGNALWIRE_TOKEN", "FREESWITCH_APT_REPO", "FREESWITCH_BUNDLE")

NO_SOURCE = """\
image build stopped: no FreeSWITCH source given.
FreeSWITCH is not in Debian, so the image needs one of these three (set it in the environment or on the
make command line):

  1. SignalWire's official Debian repository, with your SignalWire personal access token
     (https://developer.signalwire.com/freeswitch/ -> FreeSWITCH Debian packages):
       make image TARGET={target} FREESWITCH_SIGNALWIRE_TOKEN=pat_xxxxxxxx

  2. Your own apt repository that carries FreeSWITCH packages, and the keyring that signs it:
       make image TARGET={target} \\
         FREESWITCH_APT_REPO="deb https://apt.example.com/freeswitch bookworm main" \\
         FREESWITCH_APT_KEY=/path/to/freeswitch-archive-keyring.gpg

  3. A prebuilt FreeSWITCH bundle: a .tar.gz of a root overlay (usr/local/freeswitch/..., usr/local/lib/...)
     with DEPENDS (Debian runtime packages, one a line) and BUNDLE-INFO (version, architecture) at its top
     (docs/images.md, "FreeSWITCH bundle"):
       make image TARGET={target} FREESWITCH_BUNDLE=/path/to/freeswitch-bundle.tar.gz

Nothing was built."""

# A build for the test suite on a host without any FreeSWITCH (CI): asked for explicitly, never a fallback.
TEST_WITHOUT_FREESWITCH = "--test-without-freeswitch"
TEST_IMAGE_LABEL = "TEST IMAGE WITHOUT FREESWITCH: not a product image (it cannot answer SIP)"

# host tools and the Debian package that has each (make image installs APT_IMAGE first)
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "xz": "xz-utils",
    "bmaptool": "bmap-tools",
    "chroot": "coreutils",
}


class PreflightError(RuntimeError):
    """The build cannot start; the message says what to do."""


@dataclass(frozen=True)
class FreeSwitchSource:
    """Where the image gets FreeSWITCH from, as extra vars for ansible/image.yml."""

    kind: str  # signalwire | apt | bundle | none (a test image, TEST_WITHOUT_FREESWITCH)
    extra_vars: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """Return a one-line description without the token."""
        if self.kind == "signalwire":
            return "SignalWire's Debian repository (token given)"
        if self.kind == "apt":
            return f"apt repository {self.extra_vars['freeswitch_apt_repo']}"
        if self.kind == "none":
            return f"nowhere: {TEST_IMAGE_LABEL}"
        return f"bundle {self.extra_vars['freeswitch_bundle']}"


def freeswitch_source(env: dict[str, str], target: Target, test_without: bool = False) -> FreeSwitchSource:
    """Return the FreeSWITCH source the environment names, or raise PreflightError with the three options."""
    return source_from_env(env, target.name, target.arch, test_without=test_without)


def source_from_env(
    env: dict[str, str], target_name: str, arch: str | None, test_without: bool = False
) -> FreeSwitchSource:
    """Return the source named in `env`; a bundle's architecture is checked when `arch` is given.

    `test_without` (TEST_WITHOUT_FREESWITCH) is the test suite's explicit request for an image without
    FreeSWITCH; it is refused together with a source, so a product build can never fall back to it.
    """
    given = [name for name in SOURCE_VARS if env.get(name, "").strip()]
    if test_without:
        if given:
            raise PreflightError(
                f"image build stopped: {TEST_WITHOUT_FREESWITCH} builds a test image without FreeSWITCH, but a "
                f"FreeSWITCH source is given too ({', '.join(given)}); give one or the other."
            )
        return FreeSwitchSource("none")
    if not given:
        raise PreflightError(NO_SOURCE.format(target=target_name))
    if len(given) > 1:
        raise PreflightError(
            f"image build stopped: more than one FreeSWITCH source given ({', '.join(given)}); give exactly one."
        )
    if given[0] == "FREESWITCH_SIGNALWIRE_TOKEN":
        token = env["FREESWITCH_SIGNALWIRE_TOKEN"].strip()
        return FreeSwitchSource("signalwire", {"freeswitch_signalwire_token": token})
    if given[0] == "FREESWITCH_APT_REPO":
        key = env.get("FREESWITCH_APT_KEY", "").strip()
        if not key or not Path(key).is_file():
            raise PreflightError(
                "image build stopped: FREESWITCH_APT_REPO needs FREESWITCH_APT_KEY=<path of the keyring that "
                f"signs it> ({'not set' if not key else f'{key} is not a file'})."
            )
        repo = env["FREESWITCH_APT_REPO"].strip()
        return FreeSwitchSource("apt", {"freeswitch_apt_repo": repo, "freeswitch_apt_key": str(Path(key).resolve())})
    bundle = Path(env["FREESWITCH_BUNDLE"].strip()).expanduser()
    check_bundle(bundle, arch)
    return FreeSwitchSource("bundle", {"freeswitch_bundle": str(bundle.resolve())})


def bundle_info(bundle: Path) -> dict[str, str]:
    """Return BUNDLE-INFO of a bundle as a dict (key: value lines), reading DEPENDS' presence too."""
    info: dict[str, str] = {}
    with tarfile.open(bundle, "r:gz") as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
        for required in ("DEPENDS", "BUNDLE-INFO"):
            if required not in names:
                raise PreflightError(f"image build stopped: FreeSWITCH bundle {bundle} has no {required} at its top.")
        member = tar.extractfile("./BUNDLE-INFO" if "./BUNDLE-INFO" in tar.getnames() else "BUNDLE-INFO")
        assert member is not None
        for line in member.read().decode().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip().lower()] = value.strip()
    return info


def check_bundle(bundle: Path, arch: str | None) -> None:
    """Refuse a bundle that is missing, unreadable, or for another architecture."""
    if not bundle.is_file():
        raise PreflightError(f"image build stopped: FREESWITCH_BUNDLE={bundle} is not a file.")
    try:
        info = bundle_info(bundle)
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"image build stopped: FreeSWITCH bundle {bundle} is not a readable .tar.gz: {exc}"
        raise PreflightError(msg) from exc
    bundle_arch = info.get("architecture", "")
    if arch is not None and bundle_arch != arch:
        raise PreflightError(
            f"image build stopped: FreeSWITCH bundle {bundle} is for architecture {bundle_arch or '(not stated)'}, "
            f"this target needs {arch}."
        )


def check_host(target: Target, playbook: Path, ansible_playbook: Path, build_dir: Path) -> list[str]:
    """Return the problems that stop a build on this host (empty when it can go ahead)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (mmdebstrap, chroot and the bind mounts need it): sudo make image ...")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        problems.append(f"missing host tools; install them: apt-get install {' '.join(missing)}")
    if not playbook.is_file():
        problems.append(
            f"{playbook} does not exist: the roles are applied through it (docs/image-contract.md); "
            "it is written with the roles (issue #4)"
        )
    if not ansible_playbook.is_file():
        problems.append(f"{ansible_playbook} not found: install the 'ansible' Python package (make setup)")
    elif not _has_chroot_connection(ansible_playbook):
        problems.append("Ansible's community.general.chroot connection is missing: pip install ansible")
    problems += check_foreign_arch(target.arch)
    build_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(build_dir).free
    if free < 8 * 2**30:
        problems.append(f"less than 8 GiB free under {build_dir} ({free / 2**30:.1f} GiB)")
    return problems


def _has_chroot_connection(ansible_playbook: Path) -> bool:
    # ask the Python that runs ansible-playbook (ansible-doc -l takes seconds: it loads every collection)
    python = ansible_playbook.with_name("python3")
    code = (
        "import importlib.util, sys; "
        "sys.exit(importlib.util.find_spec('ansible_collections.community.general.plugins.connection.chroot') is None)"
    )
    return subprocess.run([str(python if python.exists() else sys.executable), "-c", code]).returncode == 0


def host_arch() -> str:
    """Return this host's Debian architecture."""
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()


def check_foreign_arch(arch: str) -> list[str]:
    """Make sure binaries of `arch` run here (qemu-user through binfmt_misc); return problems."""
    if arch == host_arch():
        return []
    if _arch_runs(arch):
        return []
    # binfmt_misc may simply not be mounted (containers) or the qemu entry not enabled yet
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], capture_output=True)
    if shutil.which("update-binfmts"):
        qemu = {"arm64": "qemu-aarch64", "armhf": "qemu-arm", "riscv64": "qemu-riscv64"}.get(arch, f"qemu-{arch}")
        subprocess.run(["update-binfmts", "--enable", qemu], capture_output=True)
    if _arch_runs(arch):
        return []
    return [
        f"{arch} binaries do not run on this host: the {arch} root filesystem is built through qemu-user and "
        "binfmt_misc. Install qemu-user-static and binfmt-support; in a container, binfmt_misc must be mountable "
        "(mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) or registered by the host."
    ]


def _arch_runs(arch: str) -> bool:
    if shutil.which("arch-test"):
        return subprocess.run(["arch-test", arch], capture_output=True).returncode == 0
    return False


def main(argv: list[str] | None = None) -> int:
    """Check the FreeSWITCH source only (`make image` runs this before installing or building anything)."""
    p = argparse.ArgumentParser(prog="python3 -m images.preflight")
    p.add_argument("--target", required=True)
    p.add_argument("--source-only", action="store_true", required=True)
    p.add_argument(TEST_WITHOUT_FREESWITCH, dest="test_without", action="store_true")
    args = p.parse_args(argv)
    try:
        source_from_env(dict(os.environ), args.target, None, test_without=args.test_without)
    except PreflightError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
