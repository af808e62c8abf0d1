# SPDX-License-Identifier: GPL-3.0-or-later
"""The artefacts in dist/: the .img.xz, its .bmap, SHA256SUMS and the Raspberry Pi Imager repository JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from images.progress import run
from images.target import Target

IMAGER_JSON = "rpi-imager.json"


def sha256(path: Path) -> str:
    """Return a file's SHA-256 in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * 2**20):
            digest.update(chunk)
    return digest.hexdigest()


def compress(raw: Path, xz_path: Path, log: Path, threads: int = 2, level: str = "1") -> None:
    """Write raw as .img.xz with xz -T<threads>; the file appears only when complete."""
    made = raw.with_name(raw.name + ".xz")
    made.unlink(missing_ok=True)
    run(["xz", f"-T{threads}", f"-{level}", "-k", "-f", raw], log, what="xz")
    shutil.move(made, xz_path)


def bmap(raw: Path, bmap_path: Path, log: Path) -> None:
    """Write the block map of the raw image (bmaptool copy then writes only the mapped blocks)."""
    run(["bmaptool", "create", "-o", bmap_path, raw], log, what="bmaptool create")


def write_sha256sums(dist: Path) -> Path:
    """(Re)write dist/SHA256SUMS over every artefact there, in `sha256sum -c` format."""
    names = sorted(
        p.name for p in dist.iterdir() if p.is_file() and p.name != "SHA256SUMS" and not p.name.endswith(".partial")
    )
    sums = dist / "SHA256SUMS"
    sums.write_text("".join(f"{sha256(dist / n)}  {n}\n" for n in names))
    return sums


def imager_entry(target: Target, raw: Path, xz_path: Path, base_url: str, raw_sha: str) -> dict:
    """Return one os_list entry of a Raspberry Pi Imager repository."""
    return {
        "name": target.imager.get("name", target.description),
        "description": target.imager.get("description", target.description),
        "url": base_url.rstrip("/") + "/" + xz_path.name,
        "release_date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "extract_size": raw.stat().st_size,
        "extract_sha256": raw_sha,
        "image_download_size": xz_path.stat().st_size,
        "image_download_sha256": sha256(xz_path),
        "devices": list(target.imager.get("devices", [])),
        # no "init_format": the appliance configures itself at first boot, so Imager offers no OS customisation
    }


def write_imager_json(dist: Path, entry: dict) -> Path:
    """Write dist/rpi-imager.json listing the Pi image."""
    path = dist / IMAGER_JSON
    path.write_text(json.dumps({"os_list": [entry]}, indent=2) + "\n")
    return path


def default_base_url(dist: Path) -> str:
    """Return a file:// URL of dist/ (IMAGE_BASE_URL names where dist/ is published instead)."""
    return dist.resolve().as_uri()
