# SPDX-License-Identifier: GPL-3.0-or-later
"""Make a prebuilt FreeSWITCH bundle (docs/image-contract.md) from this machine's FreeSWITCH, for the image tests.

python -m tests.image.make_bundle [--prefix /usr/local/freeswitch] [--out build/freeswitch-bundle.tar.gz]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "build" / "freeswitch-bundle" / "freeswitch-bundle.tar.gz"
# Not needed at run time, or not wanted in an appliance: headers, libtool and static archives, pkg-config,
# and the sample configuration (it carries default passwords; the appliance renders its own -conf tree).
SKIP_DIRS = ("include", "etc", "lib/pkgconfig")
SKIP_SUFFIXES = (".la", ".a")
LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(")


def prefix_of(binary: Path) -> Path:
    """Return the installation prefix of a freeswitch binary (…/bin/freeswitch -> …)."""
    return binary.resolve().parent.parent


def elf_files(prefix: Path) -> list[Path]:
    """Return the binaries, libraries and modules under the prefix."""
    found = []
    for path in sorted(prefix.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def linked_libraries(files: list[Path]) -> set[Path]:
    """Return every shared library the files load, as ldd resolves them on this machine."""
    libs: set[Path] = set()
    for path in files:
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            match = LDD_LINE.match(line)
            if match:
                libs.add(Path(match.group(2)))
    return libs


def owning_package(lib: Path) -> str | None:
    """Return the Debian package that owns a library (trying the /usr-merged spellings), or None."""
    candidates = {str(lib), str(lib.resolve())}
    for c in list(candidates):
        if c.startswith("/usr/lib/"):
            candidates.add(c.removeprefix("/usr"))
        elif c.startswith("/lib/"):
            candidates.add("/usr" + c)
    for c in sorted(candidates):
        proc = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if proc.returncode == 0:
            # "libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3" -> libssl3
            return proc.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def classify(libs: set[Path], prefix: Path) -> tuple[set[str], set[Path]]:
    """Split libraries into Debian packages (DEPENDS) and local files to carry (e.g. /usr/local/lib/libsofia…)."""
    packages: set[str] = set()
    local: set[Path] = set()
    for lib in libs:
        if lib.resolve().is_relative_to(prefix):
            continue  # inside the prefix: in the bundle anyway
        package = owning_package(lib)
        if package:
            packages.add(package)
        else:
            local.add(lib)
    return packages, local


def with_links(lib: Path) -> list[Path]:
    """Return a local library's real file and every symlink beside it that points to it."""
    real = lib.resolve()
    links = [p for p in lib.parent.iterdir() if p.is_symlink() and p.resolve() == real]
    return [real, *sorted(links)]


def freeswitch_version(binary: Path) -> str:
    """Return FreeSWITCH's version string."""
    proc = subprocess.run([str(binary), "-version"], capture_output=True, text=True)
    match = re.search(r"version:\s*(\S+)", proc.stdout)
    return match.group(1) if match else "unknown"


def _skip(prefix: Path, path: Path) -> bool:
    rel = path.relative_to(prefix).as_posix()
    return any(rel == d or rel.startswith(d + "/") for d in SKIP_DIRS) or path.name.endswith(SKIP_SUFFIXES)


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def make_bundle(binary: Path, out: Path) -> Path:
    """Write the bundle for the FreeSWITCH at `binary` to `out` and return it."""
    prefix = prefix_of(binary)
    files = elf_files(prefix)
    packages, local = classify(linked_libraries(files), prefix)
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    info = (
        f"version: {freeswitch_version(binary)}\n"
        f"architecture: {arch}\n"
        f"prefix: {prefix}\n"
        f"built: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"built-on: {socket.gethostname()}\n"
        f"local-libraries: {' '.join(sorted(p.name for p in local))}\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        # DEPENDS and BUNDLE-INFO first, so a reader finds them without unpacking the rest
        _add_text(tar, "DEPENDS", "".join(f"{p}\n" for p in sorted(packages)))
        _add_text(tar, "BUNDLE-INFO", info)
        for path in sorted(prefix.rglob("*")):
            if not _skip(prefix, path):
                tar.add(path, arcname=path.as_posix().lstrip("/"), recursive=False)
        for lib in sorted(local):
            for path in with_links(lib):
                tar.add(path, arcname=path.as_posix().lstrip("/"), recursive=False)
    os.replace(partial, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Make the bundle from --prefix, or from the FreeSWITCH on FREESWITCH_PREFIX / PATH."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", type=Path)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    binary = args.prefix / "bin" / "freeswitch" if args.prefix else find_freeswitch()
    if binary is None or not binary.exists():
        print(NOT_FOUND, file=sys.stderr)
        return 1
    out = make_bundle(binary, args.out)
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
