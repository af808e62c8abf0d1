# SPDX-License-Identifier: GPL-3.0-or-later
"""Caller ID per extension, encrypted recording, call tracking, video and free internal calls, live.

Real FreeSWITCH on the rendered configuration, sipp as phones and carrier, the recorder daemon.
"""

from __future__ import annotations

import datetime
import math
import shutil
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
from appliance.devstack.net import free_port
from appliance.recording import crypto
from appliance.store.db import connect
from appliance.store.repo import Store
from appliance.tracking.stats import tag_stats, to_csv
from tests.conftest import new_database
from tests.harness import sipp
from tests.harness.office import COMPANY, Office

TONE_HZ = 1000
RADIO, PRESS, BILLBOARD = "+4930555200", "+4930555300", "+4930555400"
RECORDED_DID = "+4930555106"


@pytest.fixture(scope="module")
def office(pg_cluster, tmp_path_factory):
    """The test office plus media settings: an owner key, presentations, recordings, tagged DIDs."""
    if find_freeswitch() is None or not sipp.available():
        pytest.skip(f"{NOT_FOUND}: live call tests skipped")
    office = Office(tmp_path_factory.mktemp("media"), new_database(pg_cluster))
    office.populate()
    office.owner_key = office.workdir / "owner-machine" / "recordings.key"  # never given to the appliance
    office.owner_key.parent.mkdir()
    public = crypto.generate_key_file(office.owner_key)
    with connect(office.dsn, autocommit=True) as conn:
        store = Store(conn)
        store.update_site(recording_key=public)
        store.add_extension("104", "Dave", caller_id_number="+4930555104", presentation="withheld")
        store.add_extension("105", "Erin", caller_id_number="+4930555105", presentation="company")
        store.add_extension("106", "Frank", recording="always")
        store.add_extension("107", "Gina", recording="on_demand")
        store.add_extension("108", "Hugo", caller_id_number="+4930555108", max_outside_calls=1)
        store.add_number(RADIO, "102", tracking_tag="radio")
        store.add_number(PRESS, "102", tracking_tag="press")
        store.add_number(BILLBOARD, "103", tracking_tag="billboard")  # 103 never answers here
        store.add_number(RECORDED_DID, "106")  # 106 records every call, inbound ones too
        store.add_route("directory", ["118XX"], ["carrier"], record_calls=True)
    try:
        yield office.start()
    finally:
        office.close()


def _answered(call, callee) -> sipp.SippResult:
    assert call.ok, call.explain()
    answered = callee.wait(timeout=30)
    assert answered.ok, answered.explain()
    return answered


def _carrier_invite(office, caller: str, number: str):
    carrier = office.carrier()
    call = office.call(caller, number)
    return _answered(call, carrier).received("INVITE")[0], office.cdr_of(call)


# -- caller ID per extension -------------------------------------------------------------------------


def test_withheld_extension_hides_its_number_on_a_route_that_shows_it(office):
    invite, cdr = _carrier_invite(office, "104", "0301234567")  # route national: presentation extension
    from_header = invite.header("From").lower()
    assert "anonymous" in from_header and "+4930555104" not in from_header, invite.text
    assert "id" in (invite.header("Privacy") or ""), invite.text
    assert "+4930555104" in (invite.header("P-Asserted-Identity") or ""), invite.text
    assert (cdr["route"], cdr["outbound_caller_id"]) == ("national", "anonymous")


def test_company_extension_shows_the_company_number(office):
    invite, cdr = _carrier_invite(office, "105", "0301234567")
    assert COMPANY in invite.header("From") and "+4930555105" not in invite.text, invite.text
    assert cdr["outbound_caller_id"] == COMPANY


def test_a_withheld_route_wins_over_an_extension_that_shows_a_number(office):
    invite, cdr = _carrier_invite(office, "105", "0900123456")  # route private: presentation withheld
    assert "anonymous" in invite.header("From").lower() and COMPANY not in invite.header("From"), invite.text
    assert cdr["outbound_caller_id"] == "anonymous"


def test_an_extension_without_its_own_choice_follows_the_route(office):
    invite, _cdr = _carrier_invite(office, "108", "00441234567")  # route international: company
    assert COMPANY in invite.header("From") and "+4930555108" not in invite.text


# -- encrypted recording -----------------------------------------------------------------------------


def _tone_file(directory: Path, seconds: float = 6.0) -> None:
    """Write tone.ulaw: a TONE_HZ sine as raw G.711 mu-law, for sipp's rtp_stream."""
    samples = (int(12000 * math.sin(2 * math.pi * TONE_HZ * n / 8000)) for n in range(int(8000 * seconds)))
    (directory / "tone.ulaw").write_bytes(bytes(_ulaw(s) for s in samples))


def _ulaw(sample: int) -> int:
    """Encode one 16-bit sample as G.711 mu-law (ITU-T G.711, with the usual bias of 132)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 132
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _talking_call(
    office,
    caller: str,
    callee: str,
    scenario: str = "call_audio.xml",
    hold_ms: int = 4500,
    answerer: str | None = None,
):
    """Place a call that plays the tone while the answerer (a phone, or "carrier") answers; return it.

    caller is a phone account, or "carrier" for a call in from the trunk to the number callee.
    """
    answerer = answerer or callee
    phone = office.carrier() if answerer == "carrier" else office.phone(answerer)
    if caller == "carrier":
        port, auth, keys = office.ports["external"], None, {"from_user": "+4917612345678", "from_name": "Customer"}
    else:
        user, password = office.account(caller)
        port, auth, keys = office.ports["sip"], (user, password), {"from_user": user, "from_name": user}
    talker = office.sipp(
        scenario,
        port,
        service=callee,
        auth=auth,
        duration_ms=hold_ms,
        keys=keys,
        name=f"talk-{caller}-{callee}-{time.monotonic_ns()}",
    )
    _tone_file(talker.dir)
    call = talker.run()
    _answered(call, phone)
    return call


def _wait_for_recording(office, uuid: str, timeout: float = 20) -> Path:
    root = Path(office.cfg["freeswitch"]["recordings_dir"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(root.glob(f"*/{uuid}.wav{crypto.SUFFIX}"))
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(
        f"no encrypted recording of {uuid} after {timeout}s:\n" + office.daemon_log("recorder")[-3000:]
    )


def _tone_strength(path: Path) -> tuple[float, float]:
    """Return (RMS, share of the signal's power at TONE_HZ) of a 16-bit mono WAV file."""
    with wave.open(str(path)) as wav:
        assert (wav.getsampwidth(), wav.getnchannels()) == (2, 1)
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
    # Goertzel at the tone's frequency: its power over the total power (1.0 for a pure tone).
    coeff = 2 * math.cos(2 * math.pi * TONE_HZ / rate)
    s1 = s2 = 0.0
    for s in samples:
        s1, s2 = s + coeff * s1 - s2, s1
    tone_power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / len(samples)
    total_power = sum(s * s for s in samples)
    return rms, tone_power / total_power if total_power else 0.0


def _assert_encrypted_recording_of_the_tone(office, call, tmp_path: Path) -> None:
    cdr = office.cdr_of(call)
    encrypted = _wait_for_recording(office, str(cdr["uuid"]))
    data = encrypted.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n") and b"RIFF" not in data[:200]
    staging = Path(office.cfg["freeswitch"]["recording_staging_dir"])
    assert not list(staging.glob(f"{cdr['uuid']}*")), "the plaintext is still in staging"
    # Without the owner's key: nothing (the appliance itself holds no private key).
    stranger = tmp_path / "stranger.key"
    crypto.generate_key_file(stranger)
    with pytest.raises(crypto.RecordingKeyError, match="cannot decrypt"):
        crypto.decrypt_file(encrypted, tmp_path / "nope.wav", stranger)
    assert not (tmp_path / "nope.wav").exists()
    # With it, through the command the owner runs: the tone sipp played.
    plain = tmp_path / "recording.wav"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "recording",
            "decrypt",
            "--key",
            str(office.owner_key),
            str(encrypted),
            str(plain),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rms, tone_share = _tone_strength(plain)
    assert rms > 1000, f"recording is (nearly) silent: RMS {rms:.0f}"
    assert tone_share > 0.5, f"only {tone_share:.0%} of the recording's power is the {TONE_HZ} Hz tone"
    if shutil.which("age"):  # the reference implementation reads it too
        age_plain = tmp_path / "age.wav"
        subprocess.run(["age", "-d", "-i", str(office.owner_key), "-o", str(age_plain), str(encrypted)], check=True)
        assert age_plain.read_bytes() == plain.read_bytes()


def test_a_recording_extension_call_is_encrypted_to_the_owner_and_holds_the_audio(office, tmp_path):
    call = _talking_call(office, "106", "102")
    _assert_encrypted_recording_of_the_tone(office, call, tmp_path)


def test_on_demand_recording_starts_with_star_2(office, tmp_path):
    call = _talking_call(office, "107", "102", scenario="call_audio_dtmf.xml", hold_ms=4500)
    _assert_encrypted_recording_of_the_tone(office, call, tmp_path)


def test_an_inbound_call_to_a_recording_extension_is_recorded(office, tmp_path):
    call = _talking_call(office, "carrier", RECORDED_DID, answerer="106")
    _assert_encrypted_recording_of_the_tone(office, call, tmp_path)


def test_a_recording_route_records_its_calls(office, tmp_path):
    call = _talking_call(office, "101", "11833", answerer="carrier")  # 101 itself does not record
    _assert_encrypted_recording_of_the_tone(office, call, tmp_path)


def test_calls_of_extensions_that_do_not_record_leave_no_recording(office):
    call = _talking_call(office, "101", "102", hold_ms=3500)
    uuid = str(office.cdr_of(call)["uuid"])
    root = Path(office.cfg["freeswitch"]["recordings_dir"])
    staging = Path(office.cfg["freeswitch"]["recording_staging_dir"])
    assert not list(root.glob(f"*/{uuid}*")) and not list(staging.glob(f"{uuid}*"))


# -- call tracking -----------------------------------------------------------------------------------


def test_tracking_statistics_match_the_calls_made(office):
    for did in (RADIO, RADIO, PRESS):
        phone = office.phone("102")
        _answered(office.inbound(did, hold_ms=1500), phone)
    missed = office.inbound(BILLBOARD)
    assert not missed.ok  # nobody answers at 103
    today = datetime.datetime.now(datetime.UTC).date()
    with connect(office.dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = {r.tag: r for r in tag_stats(conn, today - datetime.timedelta(days=1), today, by_day=False)}
            if {"radio", "press", "billboard"} <= set(rows):
                break
            time.sleep(0.2)
        cdrs = conn.execute("SELECT tracking_tag, billsec, answered_at FROM cdrs WHERE tracking_tag <> ''").fetchall()
    talk = {tag: sum(c["billsec"] for c in cdrs if c["tracking_tag"] == tag) for tag in ("radio", "press")}
    assert (rows["radio"].calls, rows["radio"].answered) == (2, 2)
    assert (rows["press"].calls, rows["press"].answered) == (1, 1)
    assert (rows["billboard"].calls, rows["billboard"].answered, rows["billboard"].total_seconds) == (1, 0, 0)
    assert rows["radio"].total_seconds == talk["radio"] and 2 <= talk["radio"] <= 6  # two calls of ~1.5 s
    assert rows["radio"].average_seconds == pytest.approx(talk["radio"] / 2)
    assert "spring-flyer" not in rows  # no call came in on that number in this module
    csv_text = to_csv(rows.values())
    assert csv_text.splitlines()[0] == "tag,day,calls,answered,total_seconds,average_seconds"
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "tracking", "stats", "--dsn", office.dsn, "--from", str(today), "--csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"radio,{today},2,2,{talk['radio']}," in done.stdout, done.stdout


# -- video -------------------------------------------------------------------------------------------


def test_video_between_video_phones_keeps_h264(office):
    port = office._phone_ports.setdefault("102", free_port())  # the port 102's registration points at
    assert office.register("102", port=port).ok
    callee = office.sipp("answer_video.xml", office.ports["sip"], local_port=port, name=f"video-102-{port}").start()
    user, password = office.account("101")
    call = office.sipp(
        "call_video.xml",
        office.ports["sip"],
        service="102",
        auth=(user, password),
        duration_ms=500,
        keys={"from_user": user, "from_name": user},
        name=f"video-call-{time.monotonic_ns()}",
    ).run()
    answered = _answered(call, callee)
    offer = answered.received("INVITE")[0].text
    assert _video_codecs(offer) and "H264" in _video_codecs(offer), offer
    ok = next(m for m in call.received("SIP/2.0 200") if "INVITE" in (m.header("CSeq") or ""))
    assert _video_codecs(ok.text) == ["H264"], ok.text


def _video_codecs(sdp: str) -> list[str]:
    """Return the codec names of an SDP's m=video line with a non-zero port ([] if none)."""
    lines = sdp.splitlines()
    video = next((i for i, line in enumerate(lines) if line.startswith("m=video ")), None)
    if video is None or lines[video].split()[1] == "0":
        return []
    names = []
    for line in lines[video + 1 :]:
        if line.startswith("m="):
            break
        if line.startswith("a=rtpmap:"):
            names.append(line.split()[1].split("/")[0])
    return names


# -- internal calls are always free ------------------------------------------------------------------


def test_internal_calls_work_for_an_extension_forbidden_outside(office):
    phone = office.phone("102")
    call = office.call("103", "102")  # 103 has outbound_allowed = false
    _answered(call, phone)
    assert office.cdr_of(call)["call_type"] == "internal"


def test_internal_calls_work_with_the_outside_call_limit_reached(office):
    carrier = office.carrier()
    user, password = office.account("108")  # max_outside_calls = 1
    outside = office.sipp(
        "call.xml",
        office.ports["sip"],
        service="0301234567",
        auth=(user, password),
        duration_ms=6000,
        keys={"from_user": user, "from_name": user},
        name=f"outside-108-{time.monotonic_ns()}",
    ).start()
    _wait_for(lambda: _usage(office) >= 1)
    assert _usage(office) == 1
    second = office.call("108", "0301234568")
    assert not second.ok, "a second outside call got through the limit"
    phone = office.phone("102")
    internal = office.call("108", "102")
    _answered(internal, phone)
    assert office.cdr_of(internal)["call_type"] == "internal"
    _answered(outside.wait(), carrier)


def _usage(office) -> int:
    reply = office.esl("limit_usage hash appliance_outside 108").strip()
    return int(reply) if reply.isdigit() else 0


def _wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
