# SPDX-License-Identifier: GPL-3.0-or-later
"""The base cache: keyed on what changes the base's content, reused when nothing did."""

from __future__ import annotations

import dataclasses
import json

import pytest

from images import rootfs
from images.preflight import PreflightError
from images.rootfs import Pin, cache_key, ensure_base, resolve_pin
from images.target import load

PIN = Pin("mirror", "20260711T101637Z", "http://deb.debian.org/debian", "http://deb.debian.org/debian-security")


def test_same_inputs_same_key():
    assert cache_key(load("x86_64"), PIN) == cache_key(load("x86_64"), PIN)
    assert cache_key(load("x86_64"), PIN).startswith("x86_64-")


def test_package_list_changes_the_key_but_not_its_order():
    target = load("x86_64")
    more = dataclasses.replace(target, packages=(*target.packages, "less"))
    shuffled = dataclasses.replace(target, packages=tuple(reversed(target.packages)))
    assert cache_key(more, PIN) != cache_key(target, PIN)
    assert cache_key(shuffled, PIN) == cache_key(target, PIN)


def test_pin_changes_the_key_but_the_mirror_url_does_not():
    target = load("x86_64")
    later = dataclasses.replace(PIN, value="20260801T000000Z")
    cache_mirror = dataclasses.replace(PIN, mirror="http://127.0.0.1:3142/deb.debian.org/debian")
    snapshot = Pin("snapshot", "20260711T101637Z", "http://snapshot.debian.org/archive/debian/x", "")
    assert cache_key(target, later) != cache_key(target, PIN)
    assert cache_key(target, cache_mirror) == cache_key(target, PIN)
    assert cache_key(target, snapshot) != cache_key(target, PIN)


def test_targets_have_different_keys():
    assert cache_key(load("x86_64"), PIN) != cache_key(load("rpi"), PIN)


def test_dpkg_excludes_change_the_key():
    target = load("x86_64")
    assert cache_key(dataclasses.replace(target, dpkg_exclude=()), PIN) != cache_key(target, PIN)


def _fake_mmdebstrap(cmd, log, **kwargs):
    """Write the tarball mmdebstrap would (its output is the one argument ending in .tar)."""
    out = next(c for c in cmd if str(c).endswith(".tar"))
    with open(out, "wb") as f:
        f.write(b"tar")


def _no_mmdebstrap(*args, **kwargs):
    raise AssertionError("mmdebstrap must not run for a cached base")


def test_cached_base_is_reused_without_mmdebstrap(tmp_path, monkeypatch):
    target = load("x86_64")
    key = cache_key(target, PIN)
    (tmp_path / f"base-{key}.tar").write_bytes(b"tar")
    (tmp_path / f"base-{key}.json").write_text(json.dumps({"key": key}))
    monkeypatch.setattr(rootfs, "run", _no_mmdebstrap)
    tarball, cached = ensure_base(target, PIN, tmp_path, tmp_path / "log")
    assert cached and tarball == tmp_path / f"base-{key}.tar"


def test_missing_or_refreshed_base_is_made_and_recorded(tmp_path, monkeypatch):
    target = load("x86_64")
    calls = []

    def fake_run(cmd, log, **kwargs):
        calls.append(cmd)
        _fake_mmdebstrap(cmd, log)

    monkeypatch.setattr(rootfs, "run", fake_run)
    tarball, cached = ensure_base(target, PIN, tmp_path, tmp_path / "log")
    assert not cached and tarball.read_bytes() == b"tar"
    meta = json.loads(tarball.with_suffix(".json").read_text())
    assert meta["pin"]["value"] == PIN.value and meta["packages"] == list(target.packages)
    assert ensure_base(target, PIN, tmp_path, tmp_path / "log")[1] is True
    ensure_base(target, PIN, tmp_path, tmp_path / "log", refresh=True)
    assert len(calls) == 2


def test_old_entries_are_pruned(tmp_path, monkeypatch):
    target = load("x86_64")
    monkeypatch.setattr(
        rootfs, "run", lambda cmd, log, **kw: open(next(c for c in cmd if str(c).endswith(".tar")), "wb").close()
    )
    for day in ("20260101T000000Z", "20260201T000000Z", "20260301T000000Z"):
        ensure_base(target, dataclasses.replace(PIN, value=day), tmp_path, tmp_path / "log")
    assert len(list(tmp_path.glob("base-x86_64-*.tar"))) == rootfs.KEEP_PER_TARGET


def test_mirror_pin_keys_on_the_suite_release_date(monkeypatch):
    dates = {
        "http://m/debian/dists/bookworm/Release": "20260711T101637Z",
        "http://m/debian/dists/bookworm-updates/Release": "20261122T080000Z",
        "http://s/dists/bookworm-security/Release": "20261122T090000Z",
    }
    monkeypatch.setattr(rootfs, "release_date", lambda url, timeout=20: dates[url])
    target = load("x86_64")
    pin = resolve_pin(target, {"IMAGE_MIRROR": "http://m/debian/", "IMAGE_SECURITY_MIRROR": "http://s"})
    assert (pin.mode, pin.value, pin.mirror) == ("mirror", "20260711T101637Z", "http://m/debian")
    assert pin.dates["bookworm-security"] == "20261122T090000Z"


def test_unreachable_snapshot_stops_instead_of_falling_back(monkeypatch):
    def unreachable(url, timeout=20):
        raise OSError("Name or service not known")

    monkeypatch.setattr(rootfs, "release_date", unreachable)
    with pytest.raises(PreflightError, match="snapshot 20250520T000000Z is not reachable"):
        resolve_pin(load("x86_64"), {"IMAGE_SNAPSHOT": "20250520T000000Z"})


def test_product_layer_filters_do_not_key_the_base():
    # the base has none of PostgreSQL's JIT files: filtering them later must not rebuild the base
    target = load("x86_64")
    assert target.dpkg_exclude_product
    assert cache_key(dataclasses.replace(target, dpkg_exclude_product=()), PIN) == cache_key(target, PIN)


def test_apt_download_cache_is_per_architecture_and_held_by_one_build(tmp_path):
    import threading

    entered = threading.Event()

    def second_amd64_build():
        with rootfs.apt_archive_cache(tmp_path, "amd64"):
            entered.set()

    with rootfs.apt_archive_cache(tmp_path, "amd64") as amd64:
        with rootfs.apt_archive_cache(tmp_path, "arm64") as arm64:  # another architecture: no wait
            assert amd64 != arm64
            assert (amd64 / "partial").is_dir() and (arm64 / "partial").is_dir()
        waiter = threading.Thread(target=second_amd64_build)
        waiter.start()
        assert not entered.wait(0.5), "a second build of the same architecture got the cache while it was held"
    assert entered.wait(10), "the second build never got the cache after the first let it go"
    waiter.join(10)
