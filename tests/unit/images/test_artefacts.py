# SPDX-License-Identifier: GPL-3.0-or-later
"""SHA256SUMS and the Raspberry Pi Imager repository JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess

from images import artefacts
from images.target import load


def test_sha256sums_cover_every_artefact_in_sha256sum_format(tmp_path):
    (tmp_path / "appliance-0.1.0-x86_64.img.xz").write_bytes(b"xz")
    (tmp_path / "appliance-0.1.0-x86_64.img.bmap").write_text("<bmap/>")
    (tmp_path / "half.img.xz.partial").write_bytes(b"no")
    sums = artefacts.write_sha256sums(tmp_path)
    lines = sums.read_text().splitlines()
    assert lines == [
        f"{hashlib.sha256(b'<bmap/>').hexdigest()}  appliance-0.1.0-x86_64.img.bmap",
        f"{hashlib.sha256(b'xz').hexdigest()}  appliance-0.1.0-x86_64.img.xz",
    ]
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path).returncode == 0


def test_imager_json_lists_the_pi_image(tmp_path):
    raw, xz = tmp_path / "appliance-0.1.0-rpi.img", tmp_path / "appliance-0.1.0-rpi.img.xz"
    raw.write_bytes(b"\0" * 4096)
    xz.write_bytes(b"compressed")
    entry = artefacts.imager_entry(load("rpi"), raw, xz, "https://dl.example.com/appliance/", "ab" * 32)
    path = artefacts.write_imager_json(tmp_path, entry)
    data = json.loads(path.read_text())
    (os_entry,) = data["os_list"]
    assert os_entry["url"] == "https://dl.example.com/appliance/appliance-0.1.0-rpi.img.xz"
    assert os_entry["extract_size"] == 4096 and os_entry["extract_sha256"] == "ab" * 32
    assert os_entry["image_download_size"] == len(b"compressed")
    assert os_entry["image_download_sha256"] == hashlib.sha256(b"compressed").hexdigest()
    assert os_entry["devices"] == ["pi4-64bit", "pi3-64bit"]
    assert "init_format" not in os_entry  # no Imager OS customisation: first boot configures the box


def test_compress_makes_a_valid_xz_beside_nothing_partial(tmp_path):
    raw = tmp_path / "disk.img"
    raw.write_bytes(b"appliance" * 10000)
    out = tmp_path / "dist" / "disk.img.xz"
    out.parent.mkdir()
    artefacts.compress(raw, out, tmp_path / "log")
    assert subprocess.run(["xz", "-dc", str(out)], capture_output=True).stdout == raw.read_bytes()
    assert raw.exists() and not (tmp_path / "disk.img.xz").exists()
