# SPDX-License-Identifier: GPL-3.0-or-later
"""Presentation, recording and tracking settings against real PostgreSQL: validated, refused whole."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import uuid

import pyrage
import pytest

from appliance.model.validate import ValidationFailed
from appliance.store.repo import Store, load_snapshot
from appliance.tracking.stats import TagStats, tag_stats, to_csv


@pytest.fixture
def store(conn):
    store = Store(conn)
    store.add_extension("101", "Alice", caller_id_number="+4930123456101")
    store.add_trunk("carrier", "127.0.0.2")
    return store


def _public_key() -> str:
    return str(pyrage.x25519.Identity.generate().to_public())


def test_presentation_and_recording_round_trip(store):
    key = _public_key()
    store.update_site(recording_key=key, company_number="+4930123450")
    store.add_extension("102", "Bob", presentation="withheld", recording="on_demand")
    store.add_route("national", ["0ZX."], ["carrier"], record_calls=True)
    snap = load_snapshot(store.conn)
    bob = snap.extension("102")
    assert (bob.presentation, bob.recording) == ("withheld", "on_demand")
    assert snap.outbound_routes[0].record_calls is True
    assert snap.site.recording_key == key
    assert (snap.extension("101").presentation, snap.extension("101").recording) == ("", "off")


def test_recording_without_the_owners_key_is_refused_and_nothing_written(store):
    with pytest.raises(ValidationFailed, match=r"extension 101: recording: needs the owner's public key"):
        store.update_extension("101", recording="always")
    with pytest.raises(ValidationFailed, match=r"outbound route national: record_calls: needs the owner's public key"):
        store.add_route("national", ["0ZX."], ["carrier"], record_calls=True)
    snap = load_snapshot(store.conn)
    assert snap.extension("101").recording == "off" and not snap.outbound_routes


def test_removing_the_key_while_something_records_is_refused(store):
    store.update_site(recording_key=_public_key())
    store.update_extension("101", recording="always")
    with pytest.raises(ValidationFailed, match=r"extension 101: recording: needs the owner's public key"):
        store.update_site(recording_key="")


def test_a_private_key_or_garbage_is_refused_as_recording_key(store):
    identity = str(pyrage.x25519.Identity.generate())
    with pytest.raises(ValidationFailed, match=r"site: recording_key: is a PRIVATE key"):
        store.update_site(recording_key=identity)
    with pytest.raises(ValidationFailed, match=r"site: recording_key: must be an age X25519 public key"):
        store.update_site(recording_key="ssh-ed25519 AAAA")
    # One key, its last checksum character changed: a typo bech32 must catch.
    good = _public_key()
    broken = good[:-1] + ("q" if not good.endswith("q") else "p")
    with pytest.raises(ValidationFailed, match=r"site: recording_key: "):
        store.update_site(recording_key=broken)
    assert load_snapshot(store.conn).site.recording_key == ""


def test_company_presentation_needs_the_company_number(store):
    with pytest.raises(ValidationFailed, match=r"extension 101: presentation: 'company' needs the site's company"):
        store.update_extension("101", presentation="company")
    with pytest.raises(ValidationFailed, match=r"extension 101: presentation: 'hidden' is not"):
        store.update_extension("101", presentation="hidden")


def _cdr(conn, tag: str, started: str, billsec: int, answered: bool = True) -> None:
    start = datetime.datetime.fromisoformat(started)
    conn.execute(
        "INSERT INTO cdrs (uuid, call_type, tracking_tag, started_at, answered_at, ended_at, billsec)"
        " VALUES (%s, 'inbound', %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            tag,
            start,
            start + datetime.timedelta(seconds=2) if answered else None,
            start + datetime.timedelta(seconds=2 + billsec),
            billsec,
        ),
    )


def test_tracking_stats_per_tag_and_day(conn):
    _cdr(conn, "radio", "2026-03-01T09:00:00+00:00", 60)
    _cdr(conn, "radio", "2026-03-01T23:30:00+00:00", 30)
    _cdr(conn, "radio", "2026-03-02T10:00:00+00:00", 0, answered=False)
    _cdr(conn, "press", "2026-03-02T11:00:00+00:00", 45)
    _cdr(conn, "press", "2026-03-05T11:00:00+00:00", 99)  # after the range
    _cdr(conn, "", "2026-03-02T11:00:00+00:00", 10)  # untagged: not a campaign
    d = datetime.date
    rows = tag_stats(conn, d(2026, 3, 1), d(2026, 3, 2))
    assert rows == [
        TagStats("press", d(2026, 3, 2), 1, 1, 45, 45.0),
        TagStats("radio", d(2026, 3, 1), 2, 2, 90, 45.0),
        TagStats("radio", d(2026, 3, 2), 1, 0, 0, 0.0),
    ]
    totals = tag_stats(conn, d(2026, 3, 1), d(2026, 3, 2), by_day=False, tag="radio")
    assert totals == [TagStats("radio", None, 3, 2, 90, 45.0)]
    # The days are the chosen zone's: 23:30 UTC is already 2 March in Berlin.
    berlin = tag_stats(conn, d(2026, 3, 1), d(2026, 3, 2), tag="radio", timezone="Europe/Berlin")
    assert [(r.day.day, r.calls) for r in berlin] == [(1, 1), (2, 2)]
    assert to_csv(totals) == "tag,day,calls,answered,total_seconds,average_seconds\nradio,,3,2,90,45.0\n"
    with pytest.raises(ValueError, match="before"):
        tag_stats(conn, d(2026, 3, 2), d(2026, 3, 1))


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--dsn", dsn], capture_output=True, text=True, timeout=60
    )


def test_tracking_cli_prints_json_and_csv_and_names_bad_input(conn, dsn):
    _cdr(conn, "radio", "2026-03-01T09:00:00+00:00", 60)
    done = _cli(dsn, "tracking", "stats", "--from", "2026-03-01", "--to", "2026-03-31", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"tag": "radio", "day": "2026-03-01", "calls": 1, "answered": 1, "total_seconds": 60, "average_seconds": 60.0}
    ]
    done = _cli(dsn, "tracking", "stats", "--from", "2026-03-01", "--to", "2026-03-31", "--csv", "--totals")
    assert done.stdout == "tag,day,calls,answered,total_seconds,average_seconds\nradio,,1,1,60,60.0\n"
    done = _cli(dsn, "tracking", "stats", "--from", "2026-03-31", "--to", "2026-03-01")
    assert done.returncode == 2 and "before" in done.stderr
    done = _cli(dsn, "tracking", "stats", "--timezone", "Mars/Olympus")
    assert done.returncode == 2 and "Mars/Olympus" in done.stderr


def test_recording_cli_registers_a_key_and_refuses_a_private_one(conn, dsn, tmp_path):
    key_file = tmp_path / "owner.key"
    done = _cli(dsn, "recording", "keygen", "--out", str(key_file), "--json")
    assert done.returncode == 0, done.stderr
    public = json.loads(done.stdout)["public_key"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert _cli(dsn, "recording", "keygen", "--out", str(key_file)).returncode == 2  # never overwritten
    private = next(line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-"))
    done = _cli(dsn, "recording", "set-key", private)
    assert done.returncode == 2 and "PRIVATE key" in done.stderr
    assert _cli(dsn, "recording", "set-key", public).returncode == 0
    assert load_snapshot(conn).site.recording_key == public
    done = _cli(dsn, "extension", "add", "105", "Erin", "--recording", "always", "--presentation", "withheld")
    assert done.returncode == 0, done.stderr
    assert load_snapshot(conn).extension("105").recording == "always"
