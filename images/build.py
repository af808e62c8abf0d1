# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a flashable appliance image: python -m images.build --target x86_64|rpi (make image TARGET=...)."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from images import REPO, artefacts, boot, disk, finalize, preflight, project_version, roles, rootfs
from images.preflight import PreflightError
from images.progress import BuildError, Steps, err, fmt_size, say
from images.target import TARGETS, Target, load

STEPS = 11


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m images.build", description=__doc__)
    p.add_argument("--target", required=True, choices=TARGETS)
    p.add_argument("--ssh-key", action="append", default=[], type=Path, metavar="FILE",
                   help="public key file for appliance_ssh_authorized_keys (repeatable)")  # fmt: skip
    p.add_argument("--playbook", type=Path, default=REPO / "ansible" / "image.yml")
    p.add_argument("--build-dir", type=Path, default=REPO / "build" / "image")
    p.add_argument("--cache-dir", type=Path, default=REPO / "build" / "cache")
    p.add_argument("--dist-dir", type=Path, default=REPO / "dist")
    p.add_argument("--refresh-base", action="store_true", help="make the base root filesystem again")
    p.add_argument(preflight.TEST_WITHOUT_FREESWITCH, dest="test_without_freeswitch", action="store_true",
                   help="the test suite's image for hosts without FreeSWITCH (CI): none in it, named "
                        "*-test-no-freeswitch.img, NOT a product image; refused with a FREESWITCH_ source")  # fmt: skip
    # level 1: about 8x faster than xz's default 6 for ~15% more bytes (docs/images.md, "Artefacts")
    p.add_argument("--xz-level", default=os.environ.get("IMAGE_XZ_LEVEL", "1"))
    return p


def _ansible_playbook() -> Path:
    beside = Path(sys.executable).parent / "ansible-playbook"
    return beside if beside.exists() else Path(shutil.which("ansible-playbook") or beside)


def _ssh_keys(files: list[Path]) -> list[str]:
    keys = []
    for f in files:
        for line in f.expanduser().read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                if "PRIVATE KEY" in line:
                    raise PreflightError(f"{f} is a private key; give the .pub file")
                keys.append(line.strip())
    return keys


TEST_SUFFIX = "-test-no-freeswitch"


def image_name(version: str, target: str, test_without_freeswitch: bool = False) -> str:
    """Return the raw image's file name; a test image without FreeSWITCH says so in its name."""
    return f"appliance-{version}-{target}{TEST_SUFFIX if test_without_freeswitch else ''}.img"


def build(args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Run every step; return the build record (timings, sizes, paths)."""
    steps = Steps(STEPS)
    version = project_version()
    target: Target = load(args.target)
    workdir = (args.build_dir / target.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "build.log"
    log.write_text(f"image build {target.name} {datetime.now(UTC).isoformat(timespec='seconds')}\n")
    say(f"Building appliance {version} for {target.name} ({target.arch}); log: {log}")

    with steps.step("preflight"):
        # first: it needs nothing but the environment
        source = preflight.freeswitch_source(env, target, test_without=args.test_without_freeswitch)
        say(f"    FreeSWITCH from {source.describe()}")
        ansible_playbook = _ansible_playbook()
        problems = preflight.check_host(target, args.playbook, ansible_playbook, workdir)
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            raise PreflightError(f"image build stopped before anything slow:\n{listed}")
        ssh_keys = _ssh_keys(args.ssh_key)
        pin = rootfs.resolve_pin(target, env)
        say(f"    base pinned to {pin.describe()}")

    with steps.step("appliance wheel"):
        wheel = roles.build_wheel(workdir / "wheel", log)
        say(f"    {wheel.name}")

    with steps.step("base root filesystem"):
        tarball, cached = rootfs.ensure_base(target, pin, args.cache_dir.resolve(), log, refresh=args.refresh_base)
        how = "reused cached" if cached else "made and cached"
        say(f"    {how} {tarball.name} ({fmt_size(tarball.stat().st_size)})")

    rootdir = workdir / "rootfs"
    with steps.step("unpack base"):
        rootfs.unpack(tarball, rootdir)
        boot.configure_defaults(rootdir, target)

    with rootfs.chroot_session(rootdir, args.cache_dir.resolve(), target.arch):
        with steps.step("update packages"):
            rootfs.update_packages(rootdir, target, pin, log)
        with steps.step("apply roles (ansible/image.yml, chroot)"):
            variables = roles.extra_vars(target, wheel, source, ssh_keys)
            roles.apply(rootdir, args.playbook, ansible_playbook, variables, workdir, log)
        with steps.step("boot files"):
            ids = boot.Ids.new(target.table)
            stage = workdir / "boot-partition"
            boot.prepare(rootdir, target, ids, stage, log)

    with steps.step("clean identity and check"):
        finalize.scrub(rootdir, target)
        finalize.check(rootdir)
        warnings = finalize.contract_warnings(rootdir)

    raw = workdir / image_name(version, target.name, source.kind == "none")
    with steps.step("filesystems"):
        used = disk.tree_size(rootdir)
        root_mib = disk.root_size_mib(used, target.root_headroom_mib)
        say(f"    root: {fmt_size(used)} of files in a {root_mib} MiB ext4; boot: {target.boot_size_mib} MiB FAT32")
        boot_fs, root_fs = workdir / "boot.vfat", workdir / "root.ext4"
        disk.make_vfat(boot_fs, target.boot_size_mib, stage, target.boot_label, ids.boot_volume_id)
        disk.make_ext4(root_fs, root_mib, rootdir, target.root_label, ids.root_uuid)

    with steps.step("disk image"):
        if target.table == "gpt":
            parts = [
                disk.Part(boot_fs, disk.GPT_ESP, target.boot_label, ids.boot_partuuid),
                disk.Part(root_fs, disk.GPT_ROOT[target.arch], target.root_label, ids.root_partuuid),
            ]
            align = 1
        else:
            parts = [disk.Part(boot_fs, disk.MBR_FAT32_LBA, bootable=True), disk.Part(root_fs, disk.MBR_LINUX)]
            align = 4  # SD cards erase in 4 MiB blocks
        raw_bytes = disk.assemble(raw, target.table, ids.disk_id, parts, align_mib=align)
        boot_fs.unlink()
        root_fs.unlink()

    dist = args.dist_dir.resolve()
    dist.mkdir(parents=True, exist_ok=True)
    xz_path = dist / f"{raw.name}.xz"
    with steps.step("artefacts (xz, bmap, SHA256SUMS)"):
        artefacts.compress(raw, xz_path, log, level=args.xz_level)
        artefacts.bmap(raw, dist / f"{raw.name}.bmap", log)
        if target.imager:
            base_url = env.get("IMAGE_BASE_URL") or artefacts.default_base_url(dist)
            entry = artefacts.imager_entry(target, raw, xz_path, base_url, artefacts.sha256(raw))
            if source.kind == "none":
                entry["name"] += " (TEST image, no FreeSWITCH)"
                entry["description"] = f"{preflight.TEST_IMAGE_LABEL}. {entry['description']}"
            artefacts.write_imager_json(dist, entry)
        artefacts.write_sha256sums(dist)

    record = {
        "target": target.name,
        "version": version,
        "freeswitch": source.kind,
        "product": source.kind != "none",
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "base": {"tarball": str(tarball), "cached": cached, "pin": asdict(pin)},
        "timings": dict(steps.timings),
        "sizes": {"root_files": used, "raw": raw_bytes, "xz": xz_path.stat().st_size},
        "raw": str(raw),
        "xz": str(xz_path),
        "ids": asdict(ids),
        "contract_warnings": warnings,
    }
    (workdir / "build-info.json").write_text(json.dumps(record, indent=2) + "\n")
    _summary(steps, record, dist)
    return record


def _summary(steps: Steps, record: dict, dist: Path) -> None:
    sizes = record["sizes"]
    say("")
    say(f"Image built: {record['xz']}")
    say("Time per step:")
    for line in steps.table():
        say(line)
    say("Sizes:")
    say(f"  root filesystem files  {fmt_size(sizes['root_files']):>11}")
    say(f"  raw image              {fmt_size(sizes['raw']):>11}  {record['raw']}")
    say(f"  compressed (.img.xz)   {fmt_size(sizes['xz']):>11}  {record['xz']}")
    say(f"Artefacts in {dist}: " + ", ".join(sorted(p.name for p in dist.iterdir() if p.is_file())))
    for w in record["contract_warnings"]:
        say(f"warning: {w}")
    if not record["product"]:
        say(f"warning: {preflight.TEST_IMAGE_LABEL}")


def main(argv: list[str] | None = None) -> int:
    """Run the build; exit 2 when preflight stops it, 1 when a step fails."""
    args = _parser().parse_args(argv)
    # SIGTERM (a test's timeout, a CI job cancelled) unwinds like Ctrl-C: the chroot's mounts are undone
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lock_path = args.build_dir / f".{args.target}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            err(f"another build of {args.target} is running (lock {lock_path})")
            return 1
        try:
            build(args, dict(os.environ))
        except PreflightError as exc:
            err(str(exc))
            return 2
        except (BuildError, OSError, RuntimeError) as exc:
            err(f"image build failed: {exc}")
            return 1
        except KeyboardInterrupt:
            err("image build interrupted (mounts under the build directory were undone)")
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
