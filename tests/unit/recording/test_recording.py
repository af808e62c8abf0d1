# SPDX-License-Identifier: GPL-3.0-or-later
"""Encryption to the owner's key and the recorder's handling of the RAM staging directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.model.media import effective_presentation, presentation_variants
from appliance.recording import crypto
from appliance.recording.recorder import Recorder


@pytest.fixture
def owner(tmp_path) -> tuple[Path, str]:
    key_file = tmp_path / "owner" / "key.txt"
    key_file.parent.mkdir()
    return key_file, crypto.generate_key_file(key_file)


def test_presentation_precedence():
    assert effective_presentation("extension", "") == "extension"
    assert effective_presentation("extension", "company") == "company"
    assert effective_presentation("company", "extension") == "extension"
    assert effective_presentation("extension", "withheld") == "withheld"
    assert effective_presentation("withheld", "extension") == "withheld"  # privacy is never undone
    assert presentation_variants("withheld") == [("withheld", ("", "extension", "company", "withheld"))]
    assert presentation_variants("company") == [
        ("extension", ("extension",)),
        ("company", ("", "company")),
        ("withheld", ("withheld",)),
    ]


def test_round_trip_and_only_the_owner_can_read(tmp_path, owner):
    key_file, public = owner
    plain = tmp_path / "call.wav"
    plain.write_bytes(b"RIFF" + os.urandom(5000))
    sealed = tmp_path / "store" / "call.wav.age"
    crypto.encrypt_file(plain, sealed, public)
    assert (
        sealed.read_bytes().startswith(b"age-encryption.org/v1") and plain.read_bytes()[4:50] not in sealed.read_bytes()
    )
    other = tmp_path / "other.key"
    crypto.generate_key_file(other)
    with pytest.raises(crypto.RecordingKeyError, match="cannot decrypt"):
        crypto.decrypt_file(sealed, tmp_path / "x.wav", other)
    assert not list(tmp_path.glob("*x.wav*"))  # no partial output left behind
    crypto.decrypt_file(sealed, tmp_path / "back.wav", key_file)
    assert (tmp_path / "back.wav").read_bytes() == plain.read_bytes()
    assert (tmp_path / "back.wav").stat().st_mode & 0o777 == 0o600


def test_key_files_are_never_overwritten_and_bad_ones_are_named(tmp_path, owner):
    key_file, _public = owner
    with pytest.raises(crypto.RecordingKeyError, match="refusing to overwrite"):
        crypto.generate_key_file(key_file)
    bad = tmp_path / "bad.key"
    bad.write_text("# comment\nnot-a-key\n")
    with pytest.raises(crypto.RecordingKeyError, match=r"bad.key: line 2"):
        crypto.load_identities(bad)
    with pytest.raises(crypto.RecordingKeyError, match="PRIVATE"):
        crypto.recipient(key_file.read_text().splitlines()[-1])


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _recorder(tmp_path: Path, public: str, clock: Clock) -> Recorder:
    (tmp_path / "staging").mkdir(exist_ok=True)
    return Recorder(tmp_path / "staging", tmp_path / "store", lambda: public, stale_seconds=60, clock=clock)


def test_record_stop_encrypts_the_file_and_unlinks_the_plaintext(tmp_path, owner):
    key_file, public = owner
    recorder = _recorder(tmp_path, public, Clock(0))
    staged = tmp_path / "staging" / "abc.wav"
    staged.write_bytes(b"RIFF audio")
    os.utime(staged, (1_700_000_000, 1_700_000_000))  # 2023-11-14 UTC
    recorder.on_record_stop({"Record-File-Path": str(staged)})
    assert not staged.exists()
    sealed = tmp_path / "store" / "2023-11-14" / "abc.wav.age"
    crypto.decrypt_file(sealed, tmp_path / "out.wav", key_file)
    assert (tmp_path / "out.wav").read_bytes() == b"RIFF audio"
    recorder.on_record_stop({"Record-File-Path": str(staged)})  # discarded or already done: nothing
    assert recorder.secured == 1


def test_files_outside_staging_are_never_touched(tmp_path, owner):
    _key, public = owner
    recorder = _recorder(tmp_path, public, Clock(0))
    elsewhere = tmp_path / "important.wav"
    elsewhere.write_bytes(b"x")
    assert recorder.secure(elsewhere) is False and elsewhere.exists()
    sneaky = tmp_path / "staging" / ".." / "important.wav"
    assert recorder.secure(sneaky) is False and elsewhere.exists()


def test_sweep_takes_only_files_nobody_writes_anymore(tmp_path, owner):
    _key, public = owner
    clock = Clock(10_000)
    recorder = _recorder(tmp_path, public, clock)
    old, fresh = tmp_path / "staging" / "old.wav", tmp_path / "staging" / "live.wav"
    for path, mtime in ((old, 10_000 - 61), (fresh, 10_000 - 5)):
        path.write_bytes(b"RIFF")
        os.utime(path, (mtime, mtime))
    assert recorder.sweep() == 1
    assert not old.exists() and fresh.exists()
    clock.now += 60
    assert recorder.sweep() == 1 and not fresh.exists()


def test_without_a_key_the_plaintext_stays_in_ram_staging(tmp_path):
    (tmp_path / "staging").mkdir()
    recorder = Recorder(tmp_path / "staging", tmp_path / "store", lambda: "", clock=Clock(0))
    staged = tmp_path / "staging" / "abc.wav"
    staged.write_bytes(b"RIFF")
    assert recorder.secure(staged) is False
    assert staged.exists() and not (tmp_path / "store").exists()
