# SPDX-License-Identifier: GPL-3.0-or-later
"""Menus, groups, queues and parking render into FreeSWITCH's own configuration, which passes the check."""

from __future__ import annotations

import dataclasses

from appliance.fsconf import check, render
from appliance.model import Ivr, IvrOption, Queue, RingGroup

from .conftest import office, parse


def _snapshot():
    return dataclasses.replace(
        office(park_timeout_seconds=45),
        ivrs=(
            Ivr(
                "main",
                greeting="say:Welcome to O'Brien & Co.",
                options=(IvrOption("1", "group", "sales"), IvrOption("2", "queue", "support")),
                dial_by_extension=True,
                number="600",
                fallback_kind="extension",
                fallback="1002",
            ),
            Ivr("night", greeting="/nonexistent/closed.wav", options=(IvrOption("1", "ivr", "main"),)),
        ),
        groups=(RingGroup("sales", members=("1001", "1002"), strategy="sequential", ring_seconds=12),),
        queues=(Queue("support", agents=("1002",), max_wait_seconds=90, overflow_kind="voicemail", overflow="1002"),),
    )


def test_menus_groups_queues_render_and_pass_the_check(tmp_path, runtime):
    render(_snapshot(), runtime, tmp_path / "tree")
    tree = tmp_path / "tree"
    check(tree)
    ivr = parse(tree / "autoload_configs/ivr.conf.xml")
    main = ivr.xpath("//menu[@name='appliance-main']")[0]
    assert main.get("greet-long") == "say:Welcome to O'Brien & Co." and main.get("tts-engine") == "flite"
    entries = {e.get("digits"): e.get("param") for e in main.iter("entry")}
    assert entries["1"] == "transfer group-sales XML targets"
    assert entries["2"] == "transfer queue-support XML targets"
    assert entries["/^(1001|1002|1003)$/"] == "transfer $1 XML default"
    assert main.get("digit-len") == "4"
    # A missing sound file plays silence instead of failing the call.
    night = ivr.xpath("//menu[@name='appliance-night']")[0]
    assert night.get("greet-long").startswith("silence_stream://")
    group = (tree / "dialplan/targets/group-sales.xml").read_text()
    assert (
        "[leg_timeout=12]${sofia_contact(*/1001@pbx.example.org)},[leg_timeout=12]${sofia_contact(*/desk101-l1@"
        "pbx.example.org)},[leg_timeout=12]${sofia_contact(*/ata-lobby-2@pbx.example.org)}|"
        "[leg_timeout=12]${sofia_contact(*/1002@pbx.example.org)}"
    ) in group
    queue = (tree / "dialplan/targets/queue-support.xml").read_text()
    assert 'data="support"' in queue and "voicemail-1002 XML targets" in queue
    cc = parse(tree / "autoload_configs/callcenter.conf.xml")
    params = {p.get("name"): p.get("value") for p in cc.xpath("//queue[@name='support']/param")}
    assert params["max-wait-time"] == "90" and params["moh-sound"].startswith("tone_stream://")
    features = (tree / "dialplan/default/05_menus.xml").read_text()
    assert "queue-agent-login-1002" in features and "tier add support 1002 1 1" in features
    assert 'valet_parking_timeout=45"' in features and "^600$" in features
    assert "park-return-desk101-l1" in (tree / "dialplan/targets/05_park_return.xml").read_text()
