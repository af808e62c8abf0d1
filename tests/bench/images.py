# SPDX-License-Identifier: GPL-3.0-or-later
"""`IMAGE_BENCH=1 make bench`: the x86_64 image's cold build, warm rebuild, sizes, and first boot to ready in
QEMU next to a plain Debian 12 (the same mmdebstrap base, nothing added) booted in the same QEMU.

Read docs/benchmarks.md ("Images"). Figures and targets are printed, never asserted. BENCH_QUICK=1 skips the
cold build (it reuses the cache under build/cache/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.devstack.freeswitch import find_freeswitch
from images import REPO, qemu
from images.preflight import TEST_WITHOUT_FREESWITCH, host_arch

WORK = REPO / "build" / "bench-image"
PLAIN_PLAYBOOK = Path(__file__).resolve().parent / "plain-debian.yml"
READY = r"appliance-firstboot: ready"
LOGIN = r"\S+ login: "  # the serial getty's prompt: a plain Debian is booted when it asks
BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT", "2400"))
LOGIN_AFTER_READY = 180  # the appliance's getty may come after first boot's ready: wait this much more for it
MIB, GIB = 2**20, 2**30

# the targets
COLD_MAX_S = 15 * 60
WARM_MAX_S = 3 * 60
XZ_MAX = 300 * MIB
RAW_MAX = 2 * GIB


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Built:
    """One build: its wall time and its record (build-info.json)."""

    seconds: float
    record: dict

    @property
    def raw(self) -> Path:
        """Return the raw image."""
        return Path(self.record["raw"])


def build(name: str, cache: Path, playbook: Path | None, source_env: dict[str, str], extra: list[str]) -> Built:
    """Run python -m images.build for x86_64 into build/bench-image/<name>/, its output indented here."""
    out = WORK / name
    cmd = [
        sys.executable, "-m", "images.build", "--target", "x86_64", "--cache-dir", str(cache),
        "--build-dir", str(out / "image"), "--dist-dir", str(out / "dist"), *extra,
    ]  # fmt: skip
    if playbook is not None:
        cmd += ["--playbook", str(playbook)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREESWITCH_")} | source_env
    say(f"-- {name} build: {' '.join(cmd[1:])}")
    started = time.monotonic()
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        assert p.stdout is not None
        for line in p.stdout:
            say(f"   | {line.rstrip()}")
    seconds = time.monotonic() - started
    if p.returncode != 0:
        raise RuntimeError(f"the {name} build failed (exit {p.returncode})")
    record = json.loads((out / "image" / "x86_64" / "build-info.json").read_text())
    return Built(seconds, record)


def boot(raw: Path, pattern: str, name: str) -> tuple[float, float]:
    """Boot a copy of `raw` (8 GiB, as the boot test) until `pattern` and the login prompt; return both times."""
    workdir = WORK / f"vm-{name}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    disk = qemu.prepare_disk(raw, workdir / "disk.img", "8G")
    say(f"-- booting {name} ({raw.name}) under QEMU until {pattern!r}")
    vm = qemu.Vm(disk, workdir, qemu.pick_ports(), serial_log=workdir / "serial.log")
    started = time.monotonic()
    vm.start()
    try:
        login_at = ready_at = 0.0
        login = re.compile(LOGIN, re.MULTILINE)
        target = re.compile(pattern, re.MULTILINE)
        deadline = started + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            text = vm.serial_text()
            if not login_at and login.search(text):
                login_at = time.monotonic() - started
            if target.search(text) and not ready_at:
                ready_at = time.monotonic() - started
                deadline = min(deadline, time.monotonic() + LOGIN_AFTER_READY)
            if ready_at and login_at:
                return ready_at, login_at
            if vm.qemu.poll() is not None:
                raise RuntimeError(f"QEMU exited before {pattern!r}; see {workdir}")
            time.sleep(1)
        if ready_at:  # ready, but no login prompt on the serial console soon after: report it as missing
            return ready_at, float("nan")
        raise TimeoutError(f"{name}: {pattern!r} not seen within {BOOT_TIMEOUT:.0f}s ({workdir / 'serial.log'})")
    finally:
        vm.stop()


def _verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "NOT met"


def _fmt_s(seconds: float) -> str:
    if seconds != seconds:  # NaN: not seen
        return "not seen"
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def bench(quick: bool) -> None:
    """Measure and print every image figure."""
    WORK.mkdir(parents=True, exist_ok=True)
    binary = find_freeswitch()
    if binary is not None and host_arch() == "amd64":
        from tests.image.make_bundle import make_bundle

        source = {"FREESWITCH_BUNDLE": str(make_bundle(binary, WORK / "freeswitch-bundle-amd64.tar.gz"))}
        extra: list[str] = []
        say(f"image bench: FreeSWITCH from a bundle of {binary}")
    else:
        source, extra = {}, [TEST_WITHOUT_FREESWITCH]
        say("image bench: no FreeSWITCH here: the images are test images without it (smaller than a product's)")
    warm_cache = REPO / "build" / "cache"
    cold: Built | None = None
    if not quick:
        cold_cache = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=WORK))
        try:  # an empty cache: mmdebstrap makes the base and every package is downloaded
            cold = build("cold", cold_cache, None, source, extra)
        finally:
            shutil.rmtree(cold_cache, ignore_errors=True)
    if not any(warm_cache.glob("base-x86_64-*.tar")):
        build("prime", warm_cache, None, source, extra)  # the warm rebuild needs a cached base
    warm = build("warm", warm_cache, None, source, extra)
    plain = build("plain-debian", warm_cache, PLAIN_PLAYBOOK, {}, [TEST_WITHOUT_FREESWITCH])
    ready_s, app_login_s = boot(warm.raw, READY, "appliance")
    plain_s, _ = boot(plain.raw, LOGIN, "plain-debian")
    report(cold, warm, ready_s, app_login_s, plain_s, plain)


def report(cold: Built | None, warm: Built, ready_s: float, app_login_s: float, plain_s: float, plain: Built) -> None:
    """Print the figures against the targets, and the steps of each build."""
    sizes = warm.record["sizes"]
    say("")
    say("== image figures (x86_64, 2 cores, QEMU TCG)")
    say(f"{'figure':<44}{'measured':>14}  {'target':>10}  verdict")
    if cold is not None:
        say(f"{'cold build (empty cache)':<44}{_fmt_s(cold.seconds):>14}  {'<= 15m':>10}  "
            f"{_verdict(cold.seconds, COLD_MAX_S)}")  # fmt: skip
    else:
        say(f"{'cold build (empty cache)':<44}{'not run':>14}  {'<= 15m':>10}  (BENCH_QUICK=1)")
    say(f"{'warm rebuild (cached base: product layer)':<44}{_fmt_s(warm.seconds):>14}  {'<= 3m':>10}  "
        f"{_verdict(warm.seconds, WARM_MAX_S)}")  # fmt: skip
    say(f"{'.img.xz':<44}{sizes['xz'] / MIB:>10.1f} MiB  {'<= 300 MiB':>10}  {_verdict(sizes['xz'], XZ_MAX)}")
    say(f"{'raw image':<44}{sizes['raw'] / GIB:>10.2f} GiB  {'<= 2 GiB':>10}  {_verdict(sizes['raw'], RAW_MAX)}")
    say(f"{'appliance: power-on to login prompt':<44}{_fmt_s(app_login_s):>14}")
    say(f"{'appliance: power-on to first boot ready':<44}{_fmt_s(ready_s):>14}")
    say(f"{'plain Debian 12: power-on to login prompt':<44}{_fmt_s(plain_s):>14}")
    say(f"{'ratio appliance ready / plain Debian login':<44}{ready_s / plain_s:>13.2f}x")
    say(f"{'plain Debian 12 image (same base), raw':<44}{plain.record['sizes']['raw'] / GIB:>10.2f} GiB")
    for name, built in (("cold", cold), ("warm", warm)):
        if built is None:
            continue
        say(f"-- {name} build, time per step:")
        for step, seconds in built.record["timings"].items():
            say(f"   {step:<44}{_fmt_s(seconds):>10}")


def main() -> int:
    """Run the image bench when IMAGE_BENCH=1; it needs root and the image tools (make image-deps)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.environ.get("IMAGE_BENCH") != "1":
        say("image bench: not run (IMAGE_BENCH=1 make bench runs it: about 30 minutes on 2 cores)")
        return 0
    if os.geteuid() != 0:
        say("image bench: needs root (mmdebstrap, chroot): not run")
        return 0
    started = time.monotonic()
    try:
        bench(os.environ.get("BENCH_QUICK") == "1")
    except KeyboardInterrupt:
        say("image bench: interrupted")
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        say(f"image bench: failed: {exc}")
        return 1
    finally:
        say(f"image bench: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
