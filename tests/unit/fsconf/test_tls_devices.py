# SPDX-License-Identifier: GPL-3.0-or-later
"""A TLS device's legs are offered SRTP only, in the extension's dial string and in ring groups alike."""

from __future__ import annotations

import dataclasses

from appliance.fsconf.contacts import SRTP_ONLY
from appliance.fsconf.render import render
from appliance.model import RingGroup
from appliance.model.validate import validate

from .conftest import office, parse


def _with_tls_ata(**site):
    snap = office(tls_enabled=True, **site)
    devices = tuple(dataclasses.replace(d, tls=d.name == "ata-lobby") for d in snap.devices)
    return dataclasses.replace(
        snap, devices=devices, groups=(RingGroup("sales", members=("1001",), strategy="sequential", ring_seconds=12),)
    )


def test_only_the_tls_devices_legs_require_srtp(tmp_path, runtime):
    tree = tmp_path / "conf"
    render(_with_tls_ata(), runtime, tree)
    user = parse(tree / "directory/default/1001.xml").xpath("//user")[0]
    dial = next(p.get("value") for p in user.iter("param") if p.get("name") == "dial-string")
    assert dial.endswith(f",[{SRTP_ONLY}]${{sofia_contact(*/ata-lobby-2@${{dialed_domain}})}}"), dial
    assert "desk101-l1@${dialed_domain})}," in dial and dial.count("rtp_secure_media_outbound") == 1, dial
    group = (tree / "dialplan/targets/group-sales.xml").read_text()
    assert f"[leg_timeout=12,{SRTP_ONLY}]${{sofia_contact(*/ata-lobby-2@pbx.example.org)}}" in group
    assert "[leg_timeout=12]${sofia_contact(*/desk101-l1@pbx.example.org)}" in group
    assert SRTP_ONLY.startswith("rtp_secure_media_outbound=mandatory:AES_CM_128_HMAC_SHA1_80")


def test_a_tls_device_on_a_site_without_tls_is_refused_naming_it():
    snap = _with_tls_ata()
    problems = validate(dataclasses.replace(snap, site=dataclasses.replace(snap.site, tls_enabled=False)))
    assert [(p.obj, p.field) for p in problems if p.field == "tls"] == [("device ata-lobby", "tls")]
    assert not [p for p in validate(snap) if p.field == "tls"]
