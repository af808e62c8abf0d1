# SPDX-License-Identifier: GPL-3.0-or-later
"""Rendering of per-extension caller ID, recording and video codecs."""

from __future__ import annotations

import dataclasses

import pyrage

from appliance.fsconf import check, render

from .conftest import action_data, office, parse

KEY = str(pyrage.x25519.Identity.generate().to_public())


def _render(tmp_path, runtime, snap):
    dest = tmp_path / "conf"
    render(snap, runtime, dest)
    check(dest)
    return dest


def _media_office():
    snap = office(recording_key=KEY)
    first, second, third = snap.extensions
    return dataclasses.replace(
        snap,
        extensions=(
            dataclasses.replace(first, presentation="withheld", recording="always"),
            dataclasses.replace(second, recording="on_demand"),
            third,
        ),
        outbound_routes=(dataclasses.replace(snap.outbound_routes[1], record_calls=True), *snap.outbound_routes[::2]),
    )


def _user_variables(tree, user):
    return {v.get("name"): v.get("value") for v in parse(tree / f"directory/default/{user}.xml").xpath("//variable")}


def test_directory_carries_presentation_and_recording_only_when_set(tmp_path, runtime):
    tree = _render(tmp_path, runtime, _media_office())
    alice = _user_variables(tree, "1001")
    assert (alice["appliance_presentation"], alice["appliance_recording"]) == ("withheld", "always")
    assert _user_variables(tree, "ata-lobby-2")["appliance_presentation"] == "withheld"  # a line of 1001
    assert "appliance_presentation" not in _user_variables(tree, "1002")
    assert "appliance_recording" not in _user_variables(tree, "1003")


def test_recording_goes_to_ram_staging_on_answer_once_per_call(tmp_path, runtime):
    tree = _render(tmp_path, runtime, _media_office())
    staged = f"{runtime.recording_staging_dir}/${{uuid}}.wav"
    caller = parse(tree / "dialplan/default/05_recording.xml")
    assert caller.xpath("//extension/@continue") == ["true", "true"]
    data = caller.xpath("//action/@data")
    assert f"execute_on_answer_appliance_recording=record_session {staged}" in data
    assert f"2 a s record_session::{staged}" in data
    callee = action_data(parse(tree / "dialplan/default/10_extension_1001.xml").xpath("//extension/condition")[-1])
    assert f"execute_on_answer_appliance_recording=record_session {staged}" in callee
    assert f"2 b s record_session::{staged}" in parse(tree / "dialplan/default/10_extension_1002.xml").xpath(
        "//action/@data"
    )
    assert "record_session" not in (tree / "dialplan/default/10_extension_1003.xml").read_text()
    routes = {p.name: p.read_text() for p in (tree / "dialplan/default").glob("50_route_*.xml")}
    assert [name for name, text in routes.items() if "record_session" in text] == ["50_route_0001_emergency.xml"]
    profile = parse(tree / "sip_profiles/internal.xml")
    assert profile.xpath('//param[@name="record-path"]/@value') == [str(runtime.recording_staging_dir)]


def test_without_an_owner_key_nothing_records(tree):
    assert "record_session" not in "".join(p.read_text() for p in tree.rglob("*.xml"))


def test_internal_profile_offers_video_after_the_sites_audio_codecs(tree):
    profile = parse(tree / "sip_profiles/internal.xml")
    for name in ("inbound-codec-prefs", "outbound-codec-prefs"):
        assert profile.xpath(f'//param[@name="{name}"]/@value') == ["OPUS,G722,PCMA,H264,VP8"]


def test_video_codecs_already_listed_are_not_repeated(tmp_path, runtime):
    tree = _render(tmp_path, runtime, office(codecs="PCMU,VP8"))
    profile = parse(tree / "sip_profiles/internal.xml")
    assert profile.xpath('//param[@name="inbound-codec-prefs"]/@value') == ["PCMU,VP8,H264"]
