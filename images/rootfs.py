# SPDX-License-Identifier: GPL-3.0-or-later
"""The base root filesystem: pinned sources, the cache key, mmdebstrap, unpacking, and the chroot's mounts."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from images.preflight import PreflightError
from images.progress import BuildError, run, say
from images.target import Target

# Bump when the way a base is made changes in a way the inputs below do not show.
BASE_FORMAT = 1
KEEP_PER_TARGET = 2  # cache entries kept per target; older ones are pruned


@dataclass(frozen=True)
class Pin:
    """Which state of Debian the base is made from: a snapshot, or a mirror at a recorded Release date."""

    mode: str  # "snapshot" | "mirror"
    value: str  # the snapshot timestamp, or the suite's Release date as YYYYMMDDTHHMMSSZ
    mirror: str
    security_mirror: str
    dates: dict[str, str] = field(default_factory=dict)  # every suite's Release date, recorded for the log

    def describe(self) -> str:
        """Return one line saying what the base is pinned to."""
        if self.mode == "snapshot":
            return f"Debian snapshot {self.value} ({self.mirror})"
        return f"mirror {self.mirror} as of its Release date {self.value} (snapshot.debian.org not used)"


def release_date(url: str, timeout: float = 20) -> str:
    """Return the Date: of a Release file as YYYYMMDDTHHMMSSZ, reading only its header."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        head = resp.read(4096).decode("utf-8", "replace")
    match = re.search(r"^Date:\s*(.+)$", head, re.MULTILINE)
    if not match:
        raise PreflightError(f"{url} has no Date: field")
    return parsedate_to_datetime(match.group(1).strip()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def resolve_pin(target: Target, env: dict[str, str]) -> Pin:
    """Decide the sources and the pin, from the definition and IMAGE_SNAPSHOT / IMAGE_MIRROR."""
    snapshot = env.get("IMAGE_SNAPSHOT", target.snapshot).strip()
    suites = [target.suite, f"{target.suite}-updates"]
    if snapshot:
        mirror = f"http://snapshot.debian.org/archive/debian/{snapshot}"
        security = f"http://snapshot.debian.org/archive/debian-security/{snapshot}"
        try:
            release_date(f"{mirror}/dists/{target.suite}/Release", timeout=15)
        except (OSError, PreflightError) as exc:
            raise PreflightError(
                f"image build stopped: the pinned snapshot {snapshot} is not reachable ({exc}). Set IMAGE_SNAPSHOT= "
                "(empty) to build from the mirror pinned to its Release date instead."
            ) from exc
        return Pin("snapshot", snapshot, mirror, security)
    mirror = env.get("IMAGE_MIRROR", target.mirror).rstrip("/")
    security = env.get("IMAGE_SECURITY_MIRROR", target.security_mirror).rstrip("/")
    try:
        dates = {suite: release_date(f"{mirror}/dists/{suite}/Release") for suite in suites}
        dates[f"{target.suite}-security"] = release_date(f"{security}/dists/{target.suite}-security/Release")
    except OSError as exc:
        raise PreflightError(f"image build stopped: the Debian mirror {mirror} is not reachable: {exc}") from exc
    # The key follows the suite's own Release (point releases); -updates and -security move daily and are
    # applied on top of the cached base at every build ("update packages" step), so they do not key it.
    return Pin("mirror", dates[target.suite], mirror, security, dates)


def sources(target: Target, mirror: str, security: str) -> list[str]:
    """Return the one-line apt sources for a target."""
    comps = " ".join(target.components)
    return [
        f"deb {mirror} {target.suite} {comps}",
        f"deb {mirror} {target.suite}-updates {comps}",
        f"deb {security} {target.suite}-security {comps}",
    ]


def cache_key(target: Target, pin: Pin) -> str:
    """Return the base's cache key: everything that changes its content, and nothing else."""
    inputs = {
        "format": BASE_FORMAT,
        "arch": target.arch,
        "suite": target.suite,
        "variant": target.variant,
        "components": list(target.components),
        "packages": sorted(target.packages),  # apt installs a set: the order does not matter
        "dpkg_exclude": sorted(target.dpkg_exclude),
        "dpkg_include": sorted(target.dpkg_include),
        "pin": [pin.mode, pin.value],
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"{target.name}-{digest[:16]}"


def mmdebstrap_command(target: Target, pin: Pin, output: Path) -> list[str]:
    """Return the mmdebstrap command line that makes the base tarball."""
    cmd = [
        "mmdebstrap",
        "--mode=root",
        f"--variant={target.variant}",
        f"--architectures={target.arch}",
        f"--components={','.join(target.components)}",
        f"--include={','.join(target.packages)}",
        '--aptopt=APT::Install-Recommends "false"',
        '--aptopt=Acquire::Retries "3"',
    ]
    if pin.mode == "snapshot":
        cmd.append('--aptopt=Acquire::Check-Valid-Until "false"')  # a snapshot's Release has expired
    cmd += [f"--dpkgopt=path-exclude={p}" for p in target.dpkg_exclude]
    cmd += [f"--dpkgopt=path-include={p}" for p in target.dpkg_include]
    eatmydata = Path("/usr/share/mmdebstrap/hooks/eatmydata")
    if eatmydata.is_dir():
        cmd.append(f"--hook-dir={eatmydata}")  # no fsync per package: minutes saved, the tarball is the result
    cmd += [target.suite, str(output), *sources(target, pin.mirror, pin.security_mirror)]
    return cmd


def ensure_base(target: Target, pin: Pin, cache_dir: Path, log: Path, refresh: bool = False) -> tuple[Path, bool]:
    """Return the cached base tarball for (target, pin), making it first if needed; the bool says it was cached."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(target, pin)
    tarball = cache_dir / f"base-{key}.tar"
    meta = tarball.with_suffix(".json")
    if tarball.is_file() and meta.is_file() and not refresh:
        return tarball, True
    partial = tarball.with_suffix(".tar.partial")
    partial.unlink(missing_ok=True)
    # mmdebstrap picks the output format from the name: make it a plain tar, then rename atomically
    tmp_out = cache_dir / f".{key}.tar"
    tmp_out.unlink(missing_ok=True)
    run(mmdebstrap_command(target, pin, tmp_out), log, show=r"^I: (?!.*\.deb$)", what="mmdebstrap")
    os.replace(tmp_out, tarball)
    meta.write_text(
        json.dumps(
            {
                "key": key,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "pin": asdict(pin),
                "packages": list(target.packages),
                "mmdebstrap": subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True).stdout,
            },
            indent=2,
        )
        + "\n"
    )
    prune(cache_dir, target.name, keep=tarball)
    return tarball, False


def prune(cache_dir: Path, target_name: str, keep: Path) -> None:
    """Delete the oldest cache entries of a target beyond KEEP_PER_TARGET."""
    entries = sorted(cache_dir.glob(f"base-{target_name}-*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [e for e in entries if e != keep][KEEP_PER_TARGET - 1 :]:
        say(f"    pruning old base {old.name}")
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def mounts_under(path: Path) -> list[str]:
    """Return the mount points at or below `path`, deepest first."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def umount_all(path: Path) -> None:
    """Unmount everything below `path` (a crashed build may have left bind mounts of /dev or /proc)."""
    for point in mounts_under(path):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        raise BuildError(f"cannot unmount {', '.join(left)}; unmount them by hand before building again")


def remove_tree(path: Path) -> None:
    """Delete a root filesystem tree, never following a mount into the host."""
    if not path.exists():
        return
    umount_all(path)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def unpack(tarball: Path, rootdir: Path) -> None:
    """Unpack the base into a fresh `rootdir`."""
    remove_tree(rootdir)
    rootdir.mkdir(parents=True)
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", str(tarball), "-C", str(rootdir)],
        check=True,
    )


POLICY_RC_D = "#!/bin/sh\n# image build: no service starts inside the chroot\nexit 101\n"
UNSAFE_IO = Path("etc/dpkg/dpkg.cfg.d/zz-image-build-unsafe-io")
NO_RECOMMENDS = Path("etc/apt/apt.conf.d/90appliance-no-recommends")
LEAN = Path("etc/dpkg/dpkg.cfg.d/90appliance-lean")


@contextmanager
def apt_archive_cache(cache_dir: Path, arch: str) -> Iterator[Path]:
    """Yield this architecture's apt download cache, held for this build alone while the chroot uses it.

    apt locks the archive directory itself and gives up at once when another apt holds it, so two builds
    sharing one (an x86_64 and an rpi build side by side) failed. Each architecture has its own; a second
    build of the same architecture on the same cache (another build directory) waits for the first.
    """
    archives = _mkdir(cache_dir / "apt-archives" / arch / "partial").parent
    with (cache_dir / "apt-archives" / f".{arch}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"    waiting for another build using the {arch} apt cache {archives}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield archives


@contextmanager
def chroot_session(rootdir: Path, cache_dir: Path, arch: str) -> Iterator[None]:
    """Mount what packages need inside the chroot, with no service starts and caches bound in; undo on exit."""
    with apt_archive_cache(cache_dir, arch) as archives, _chroot_mounts(rootdir, cache_dir, archives):
        yield


@contextmanager
def _chroot_mounts(rootdir: Path, cache_dir: Path, archives: Path) -> Iterator[None]:
    root = rootdir.resolve()
    binds = [
        (["-t", "proc", "proc"], root / "proc"),
        (["-t", "sysfs", "sysfs"], root / "sys"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", "/dev/pts"], root / "dev/pts"),
        (["-t", "tmpfs", "-o", "mode=1777", "tmpfs"], root / "dev/shm"),
        (["-t", "tmpfs", "-o", "mode=0755", "tmpfs"], root / "run"),
        # downloads survive between builds: a warm rebuild fetches nothing it fetched before
        (["--bind", str(archives)], root / "var/cache/apt/archives"),
        (["--bind", str(_mkdir(cache_dir / "pip"))], root / "root/.cache/pip"),
    ]
    saved_resolv = _swap_resolv(root)
    (root / "usr/sbin/policy-rc.d").write_text(POLICY_RC_D)
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    (root / UNSAFE_IO).write_text("# image build only: no fsync per file\nforce-unsafe-io\n")
    try:
        for args, point in binds:
            point.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *args, str(point)], check=True)
        # When a role installs systemd-resolved, /etc/resolv.conf becomes a link into /run: resolve there too.
        stub = root / "run/systemd/resolve"
        stub.mkdir(parents=True)
        for name in ("stub-resolv.conf", "resolv.conf"):
            shutil.copyfile("/etc/resolv.conf", stub / name)
        _trust_host_cas(root)
        yield
    finally:
        _untrust_host_cas(root)
        umount_all(root)
        (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
        (root / UNSAFE_IO).unlink(missing_ok=True)
        _restore_resolv(root, saved_resolv)


HOST_CAS = Path("/usr/local/share/ca-certificates")
BUILD_CAS = Path("usr/local/share/ca-certificates/image-build-host")


def _trust_host_cas(root: Path) -> None:
    """Let the chroot trust the CAs this host added locally (a TLS-inspecting proxy's), for the build only."""
    extra = sorted(HOST_CAS.glob("**/*.crt")) if HOST_CAS.is_dir() else []
    if not extra or not (root / "usr/sbin/update-ca-certificates").exists():
        return
    say(f"    the chroot trusts this host's local CAs while the roles run ({', '.join(p.name for p in extra)})")
    (root / BUILD_CAS).mkdir(parents=True, exist_ok=True)
    for i, cert in enumerate(extra):
        shutil.copyfile(cert, root / BUILD_CAS / f"{i:02d}-{cert.name}")
    subprocess.run(["chroot", str(root), "update-ca-certificates"], capture_output=True, check=True)


def _untrust_host_cas(root: Path) -> None:
    """Take the build host's CAs out of the image again (the image must not trust the build's proxy)."""
    if not (root / BUILD_CAS).exists():
        return
    shutil.rmtree(root / BUILD_CAS)
    subprocess.run(["chroot", str(root), "update-ca-certificates", "--fresh"], capture_output=True, check=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _swap_resolv(root: Path) -> bytes | None:
    """Give the chroot the host's resolver; return the image's own file to put back (None: it had none)."""
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        # a role made it a link (systemd-resolved); leave it and resolve through the link's target instead
        return None
    saved = resolv.read_bytes() if resolv.exists() else None
    shutil.copyfile("/etc/resolv.conf", resolv)
    return saved if saved is not None else b""


def _restore_resolv(root: Path, saved: bytes | None) -> None:
    resolv = root / "etc/resolv.conf"
    if saved is None or resolv.is_symlink():
        return  # the image's own link (set by a role) stays
    if saved == b"":
        resolv.unlink(missing_ok=True)
    else:
        resolv.write_bytes(saved)


def chroot_run(rootdir: Path, script: str, log: Path, what: str, show: str | None = None) -> None:
    """Run a shell script inside the chroot (inside chroot_session)."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
        "HOME": "/root",
    }
    run(["chroot", rootdir, "/bin/sh", "-ec", script], log, env=env, what=what, show=show)


def update_packages(rootdir: Path, target: Target, pin: Pin, log: Path) -> None:
    """Point apt at the build's sources and apply updates published since the base was made."""
    (rootdir / "etc/apt/sources.list").write_text("\n".join(sources(target, pin.mirror, pin.security_mirror)) + "\n")
    (rootdir / NO_RECOMMENDS).write_text('APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
    (rootdir / LEAN).write_text(
        "# written by the image builder (images/common.yml: dpkg_exclude_product)\n"
        + "".join(f"path-exclude={p}\n" for p in target.dpkg_exclude_product)
    )
    chroot_run(
        rootdir,
        "apt-get update -q\napt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade\n",
        log,
        what="apt-get dist-upgrade",
        show=r"^(Inst |Setting up linux-image|\d+ upgraded)",
    )
