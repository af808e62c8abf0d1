# SPDX-License-Identifier: GPL-3.0-or-later
"""The FreeSWITCH source preflight: it stops at once, with the three options, before anything slow."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from images import REPO, build
from images.preflight import PreflightError, source_from_env
from images.target import load

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("FREESWITCH_")}


def _bundle(path: Path, info: str | None = "version: 1.10.12\narchitecture: amd64\n", depends: bool = True) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        members = {"DEPENDS": "libc6\n"} if depends else {}
        if info is not None:
            members["BUNDLE-INFO"] = info
        members["usr/local/freeswitch/bin/freeswitch"] = "#!/bin/sh\n"
        for name, text in members.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return path


def test_no_source_names_all_three_options():
    with pytest.raises(PreflightError) as exc:
        source_from_env({}, "x86_64", "amd64")
    text = str(exc.value)
    for option in ("FREESWITCH_SIGNALWIRE_TOKEN=", "FREESWITCH_APT_REPO=", "FREESWITCH_APT_KEY=", "FREESWITCH_BUNDLE="):
        assert option in text
    assert "make image TARGET=x86_64" in text
    assert text.rstrip().endswith("Nothing was built.")


def test_two_sources_are_refused():
    with pytest.raises(PreflightError, match="more than one FreeSWITCH source"):
        source_from_env({"FREESWITCH_SIGNALWIRE_TOKEN": "pat", "FREESWITCH_BUNDLE": "/x.tar.gz"}, "x86_64", "amd64")


def test_token_source_passes_the_token_as_extra_var():
    source = source_from_env({"FREESWITCH_SIGNALWIRE_TOKEN": " pat_123 "}, "x86_64", "amd64")
    assert source.kind == "signalwire"
    assert source.extra_vars == {"freeswitch_signalwire_token": "pat_123"}
    assert "pat_123" not in source.describe()


def test_apt_repo_needs_a_key_file(tmp_path):
    env = {"FREESWITCH_APT_REPO": "deb https://apt.example.com/fs bookworm main"}
    with pytest.raises(PreflightError, match="FREESWITCH_APT_KEY"):
        source_from_env(env, "x86_64", "amd64")
    key = tmp_path / "key.gpg"
    key.write_bytes(b"k")
    source = source_from_env({**env, "FREESWITCH_APT_KEY": str(key)}, "x86_64", "amd64")
    assert source.kind == "apt"
    assert source.extra_vars["freeswitch_apt_key"] == str(key)


def test_bundle_is_checked_for_metadata_and_architecture(tmp_path):
    good = _bundle(tmp_path / "good.tar.gz")
    assert source_from_env({"FREESWITCH_BUNDLE": str(good)}, "x86_64", "amd64").kind == "bundle"
    with pytest.raises(PreflightError, match="for architecture amd64, this target needs arm64"):
        source_from_env({"FREESWITCH_BUNDLE": str(good)}, "rpi", "arm64")
    with pytest.raises(PreflightError, match="no DEPENDS"):
        source_from_env({"FREESWITCH_BUNDLE": str(_bundle(tmp_path / "b.tar.gz", depends=False))}, "x86_64", "amd64")
    with pytest.raises(PreflightError, match="not a file"):
        source_from_env({"FREESWITCH_BUNDLE": str(tmp_path / "missing.tar.gz")}, "x86_64", "amd64")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(PreflightError, match="not a readable"):
        source_from_env({"FREESWITCH_BUNDLE": str(tmp_path / "junk.tar.gz")}, "x86_64", "amd64")


def test_make_image_check_runs_with_the_system_python_and_exits_2():
    # make image runs this before installing anything: standard library only, exit status 2, the message
    proc = subprocess.run(
        ["python3", "-m", "images.preflight", "--source-only", "--target", "rpi"],
        cwd=REPO,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "make image TARGET=rpi FREESWITCH_BUNDLE=" in proc.stderr


def test_build_stops_before_anything_slow(tmp_path, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith("FREESWITCH_"):
            monkeypatch.delenv(name)
    started = time.monotonic()
    rc = build.main(
        ["--target", "x86_64", "--build-dir", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "c"),
         "--dist-dir", str(tmp_path / "d")]
    )  # fmt: skip
    assert rc == 2
    assert time.monotonic() - started < 5
    assert "no FreeSWITCH source given" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # no base was started
    assert not (tmp_path / "d").exists()


def test_targets_load():
    x86, rpi = load("x86_64"), load("rpi")
    assert (x86.arch, x86.table, x86.loader) == ("amd64", "gpt", "grub-efi")
    assert (rpi.arch, rpi.table, rpi.loader) == ("arm64", "dos", "raspi-firmware")
    assert "linux-image-arm64" in rpi.packages and "raspi-firmware" in rpi.packages
    assert "non-free-firmware" in rpi.components
    assert x86.packages[0] == "systemd-sysv"  # common packages first
    with pytest.raises(ValueError, match="unknown target"):
        load("sparc")


def test_test_image_without_freeswitch_only_when_asked_for_and_never_with_a_source():
    assert source_from_env({}, "x86_64", "amd64", test_without=True).kind == "none"
    assert "not a product image" in source_from_env({}, "x86_64", "amd64", test_without=True).describe()
    with pytest.raises(PreflightError, match="give one or the other"):
        source_from_env({"FREESWITCH_SIGNALWIRE_TOKEN": "pat"}, "x86_64", "amd64", test_without=True)
    with pytest.raises(PreflightError, match="no FreeSWITCH source given"):
        source_from_env({}, "x86_64", "amd64")  # the product default still refuses


def test_test_image_is_named_as_such():
    assert build.image_name("0.1.0", "x86_64") == "appliance-0.1.0-x86_64.img"
    assert (
        build.image_name("0.1.0", "rpi", test_without_freeswitch=True) == "appliance-0.1.0-rpi-test-no-freeswitch.img"
    )
