# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot an image under QEMU with ports forwarded to 127.0.0.1 only: the boot tests and `make run-image`.

python -m images.qemu [--image FILE] [--fresh]   boots the last built x86_64 image with its serial console here
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from images import REPO, project_version
from images.disk import SECTOR, read_table

OVMF_CODE = ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = ("/usr/share/OVMF/OVMF_VARS_4M.fd", "/usr/share/OVMF/OVMF_VARS.fd")
GUEST_MAC = "52:54:00:a1:7e:01"
# guest services forwarded to loopback: name -> (protocols, guest port)
SERVICES = {"ssh": (("tcp",), 22), "https": (("tcp",), 443), "sip": (("udp", "tcp"), 5060)}
# ports a person gets when they are free (run-image); tests take any free port
PREFERRED = {"ssh": 2222, "https": 8443, "sip": 5080}


def first_existing(candidates: tuple[str, ...]) -> Path:
    """Return the first path that exists, or raise FileNotFoundError naming them."""
    for c in candidates:
        if Path(c).exists():
            return Path(c)
    raise FileNotFoundError(f"none of {', '.join(candidates)} exists (apt-get install ovmf)")


def port_free(port: int, protocols: tuple[str, ...]) -> bool:
    """Return whether 127.0.0.1:port can be bound for every protocol."""
    for proto in protocols:
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_port(protocols: tuple[str, ...], preferred: int | None = None) -> int:
    """Return a loopback port free for all `protocols`, the preferred one when it is."""
    if preferred and port_free(preferred, protocols):
        return preferred
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port_free(port, protocols):
            return port
    raise RuntimeError("no free loopback port")


def pick_ports(preferred: bool = False) -> dict[str, int]:
    """Return a loopback port for each forwarded service."""
    return {name: pick_port(protos, PREFERRED[name] if preferred else None) for name, (protos, _) in SERVICES.items()}


def hostfwd(ports: dict[str, int]) -> str:
    """Return QEMU user networking's hostfwd options, every one bound to 127.0.0.1."""
    rules = []
    for name, (protos, guest) in SERVICES.items():
        rules += [f"hostfwd={proto}:127.0.0.1:{ports[name]}-:{guest}" for proto in protos]
    return ",".join(rules)


def prepare_disk(image: Path, copy: Path, size: str = "8G") -> Path:
    """Copy an image (sparse) and enlarge the copy, so first boot has room to grow and add partitions."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.unlink(missing_ok=True)
    if image.name.endswith(".xz"):
        with copy.open("wb") as out:
            subprocess.run(["xz", "-dc", "-T2", str(image)], stdout=out, check=True)
    else:
        subprocess.run(["cp", "--sparse=always", str(image), str(copy)], check=True)
    subprocess.run(["truncate", "-s", size, str(copy)], check=True)
    return copy


@dataclass
class DirectKernel:
    """Boot a kernel and initrd directly (the Pi image's root filesystem on -M virt), not the disk's firmware."""

    kernel: Path
    initrd: Path
    cmdline: str


@dataclass
class Vm:
    """One virtual machine: x86_64 UEFI (q35, OVMF), or aarch64 -M virt booting a kernel directly.

    Software emulation (TCG) unless IMAGE_QEMU_ACCEL says otherwise.
    """

    disk: Path
    workdir: Path
    ports: dict[str, int]
    memory_mib: int = 2048
    cpus: int = 2
    tpm: bool = True
    serial_log: Path | None = None  # None: serial console on this terminal (interactive)
    direct: DirectKernel | None = None  # set: aarch64 -M virt with this kernel (no TPM: a Pi has none)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def _tpm_args(self) -> list[str]:
        if not self.tpm or shutil.which("swtpm") is None:
            return []
        state = self.workdir / "tpm"
        state.mkdir(parents=True, exist_ok=True)
        sock = self.workdir / "swtpm.sock"
        sock.unlink(missing_ok=True)
        self.procs.append(
            subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--ctrl", f"type=unixio,path={sock}"],
                stdout=(self.workdir / "swtpm.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
        )
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        return [
            *("-chardev", f"socket,id=chrtpm,path={sock}"),
            *("-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"),
        ]

    def _machine_args(self) -> list[str]:
        accel = os.environ.get("IMAGE_QEMU_ACCEL", "tcg,thread=multi")
        if self.direct is not None:
            d = self.direct
            return [
                "qemu-system-aarch64",
                *("-machine", "virt", "-accel", accel, "-cpu", "cortex-a72"),
                *("-kernel", str(d.kernel), "-initrd", str(d.initrd), "-append", d.cmdline),
            ]
        vars_copy = self.workdir / "OVMF_VARS.fd"
        if not vars_copy.exists():  # the firmware's own NVRAM, per VM: the host's is never touched
            shutil.copyfile(first_existing(OVMF_VARS), vars_copy)
        return [
            "qemu-system-x86_64",
            *("-machine", "q35", "-accel", accel, "-cpu", "max"),
            *("-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={first_existing(OVMF_CODE)}"),
            *("-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"),
            *self._tpm_args(),
        ]

    def command(self) -> list[str]:
        """Return the QEMU command line (starts swtpm first when a TPM is wanted)."""
        cmd = [
            *self._machine_args(),
            *("-m", str(self.memory_mib), "-smp", str(self.cpus)),
            *("-drive", f"file={self.disk},format=raw,if=virtio,cache=writeback,discard=unmap"),
            *("-netdev", f"user,id=net0,{hostfwd(self.ports)}"),
            *("-device", f"virtio-net-pci,netdev=net0,mac={GUEST_MAC}"),
            *("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"),
            "-nographic",
        ]
        if self.serial_log is not None:
            cmd += ["-serial", f"file:{self.serial_log}", "-monitor", "none"]
        return cmd

    def start(self) -> Vm:
        """Start QEMU in the background, its serial console going to serial_log."""
        assert self.serial_log is not None, "start() is for captured consoles; run() is interactive"
        self.serial_log.write_bytes(b"")
        cmd = self.command()
        (self.workdir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
        self.procs.append(
            subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=(self.workdir / "qemu.out").open("ab"),
                stderr=subprocess.STDOUT,
            )
        )
        return self

    @property
    def qemu(self) -> subprocess.Popen:
        """Return the QEMU process."""
        return self.procs[-1]

    def serial_text(self) -> str:
        """Return the serial console so far."""
        assert self.serial_log is not None
        return self.serial_log.read_text(errors="replace") if self.serial_log.exists() else ""

    def wait_for(self, pattern: str, timeout: float, after: int = 0) -> re.Match[str]:
        """Wait until `pattern` appears on the serial console past offset `after`; raise TimeoutError."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.serial_text(), after)
            if match:
                return match
            if self.qemu.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.qemu.returncode}) before {pattern!r}; see {self.workdir}")
            time.sleep(2)
        raise TimeoutError(f"{pattern!r} not on the serial console within {timeout:.0f}s ({self.serial_log})")

    def stop(self) -> None:
        """Stop QEMU and swtpm."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def pi_direct_kernel(image: Path, workdir: Path) -> DirectKernel:
    """Take the kernel, initrd and cmdline.txt from a Pi image's FAT partition, for -M virt (serial ttyAMA0)."""
    start = read_table(image)["partitions"][0]["start"] * SECTOR
    fat = f"{image}@@{start}"
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    names = subprocess.run(["mdir", "-b", "-i", fat, "::/"], capture_output=True, text=True, env=env, check=True)
    files = [line.rsplit("/", 1)[-1].strip() for line in names.stdout.splitlines()]
    picked = {}
    for prefix in ("vmlinuz-", "initrd.img-"):
        matches = sorted(f for f in files if f.startswith(prefix))
        if not matches:
            raise FileNotFoundError(f"no {prefix}* in the firmware partition of {image}")
        picked[prefix] = workdir / matches[-1]
        subprocess.run(["mcopy", "-o", "-i", fat, f"::/{matches[-1]}", str(picked[prefix])], env=env, check=True)
    cmdline = subprocess.run(
        ["mtype", "-i", fat, "::/cmdline.txt"], capture_output=True, text=True, env=env, check=True
    ).stdout
    # the Pi's consoles (ttyS1, tty0) do not exist on -M virt; its PL011 is ttyAMA0
    args = [a for a in cmdline.split() if not a.startswith("console=")]
    return DirectKernel(picked["vmlinuz-"], picked["initrd.img-"], " ".join([*args, "console=ttyAMA0,115200"]))


def ssh_command(port: int, key: Path, known_hosts: Path, user: str = "root", strict: bool = True) -> list[str]:
    """Return an ssh command prefix for the VM's forwarded port."""
    return [
        "ssh",
        *("-p", str(port), "-i", str(key)),
        *("-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"),
        *("-o", f"UserKnownHostsFile={known_hosts}"),
        *("-o", f"StrictHostKeyChecking={'yes' if strict else 'no'}"),
        f"{user}@127.0.0.1",
    ]


def last_image() -> Path | None:
    """Return the newest x86_64 image: the raw one the build kept, else the .img.xz in dist/."""
    version = project_version()
    for candidate in (
        REPO / "build" / "image" / "x86_64" / f"appliance-{version}-x86_64.img",
        REPO / "dist" / f"appliance-{version}-x86_64.img.xz",
    ):
        if candidate.exists():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    """Boot the last x86_64 image interactively (make run-image)."""
    p = argparse.ArgumentParser(prog="python -m images.qemu", description=__doc__)
    p.add_argument("--image", type=Path, help="image to boot (.img or .img.xz); default: the last x86_64 build")
    p.add_argument("--fresh", action="store_true", help="start again from the image (first boot again)")
    p.add_argument("--disk-size", default="8G")
    p.add_argument("--memory", type=int, default=2048)
    args = p.parse_args(argv)
    image = args.image or last_image()
    if image is None or not image.exists():
        print("no x86_64 image built yet: make image TARGET=x86_64 ...", file=sys.stderr)
        return 1
    workdir = REPO / "build" / "run-image"
    copy = workdir / "disk.img"
    if args.fresh or not copy.exists() or copy.stat().st_mtime < image.stat().st_mtime:
        shutil.rmtree(workdir, ignore_errors=True)  # a new disk needs a new TPM and NVRAM too
        workdir.mkdir(parents=True)
        print(f"copying {image} to {copy} ({args.disk_size}) ...", flush=True)
        prepare_disk(image, copy, args.disk_size)
    else:
        print(f"booting the existing copy {copy} again (--fresh / FRESH=1 starts over from the image)")
    ports = pick_ports(preferred=True)
    vm = Vm(copy, workdir, ports, memory_mib=args.memory)
    print(
        "\nThe appliance, under QEMU (software emulation: first boot takes several minutes):\n"
        f"  SSH      ssh -p {ports['ssh']} root@127.0.0.1\n"
        f"  console  https://127.0.0.1:{ports['https']}/\n"
        f"  SIP      127.0.0.1:{ports['sip']} (UDP and TCP), e.g. sipp -sn uac 127.0.0.1:{ports['sip']}\n"
        "Its serial console follows; quit QEMU with Ctrl-a x.\n",
        flush=True,
    )
    cmd = vm.command()
    # a SIGTERM (or Ctrl-C outside QEMU's raw terminal) still stops QEMU and swtpm
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        vm.procs.append(subprocess.Popen(cmd))
        return vm.qemu.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        vm.stop()


if __name__ == "__main__":
    sys.exit(main())
