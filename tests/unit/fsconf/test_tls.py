# SPDX-License-Identifier: GPL-3.0-or-later
"""SIP-TLS and SRTP in the rendered tree: TLS 1.2+ with AEAD ciphers, SRTP offered to all, required over TLS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.fsconf import check, render
from appliance.fsconf.render import SRTP_SUITES, TLS_CIPHERS

from .conftest import office, parse

SUITES = ":".join(SRTP_SUITES)
SRTP_FILE = "dialplan/default/00_00_srtp.xml"


def _offer(proto: str = "RTP/SAVP", suite: str | None = "AES_CM_128_HMAC_SHA1_80") -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0"]
    lines += [f"m=audio 40000 {proto} 0 101", "a=rtpmap:0 PCMU/8000"]
    if suite:
        lines.append(f"a=crypto:1 {suite} inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz")
    return "\r\n".join(lines) + "\r\n"


def _extensions(tree: Path) -> dict[str, object]:
    return {e.get("name"): e for e in parse(tree / SRTP_FILE).iter("extension")}


def _conditions(extension) -> dict[str, str]:
    return {c.get("field"): c.get("expression") for c in extension.iter("condition") if c.get("field")}


def _actions(extension, tag: str = "action") -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data")) for a in extension.iter(tag)]


@pytest.fixture
def plain_tree(tmp_path, runtime) -> Path:
    dest = tmp_path / "plain"
    render(office(tls_enabled=False), runtime, dest)
    return dest


def test_tls_offers_1_2_and_1_3_with_forward_secret_aead_ciphers_only(tree):
    p = {x.get("name"): x.get("value") for x in parse(tree / "sip_profiles/internal.xml").iter("param")}
    assert p["tls-version"] == "tlsv1.2,tlsv1.3"  # mod_sofia matches each item exactly: no tlsv1 sneaks in
    assert p["tls-ciphers"] == TLS_CIPHERS
    for cipher in TLS_CIPHERS.split(":"):
        assert re.fullmatch(r"ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)", cipher), cipher
    assert (p["tls-verify-date"], p["tls-only"]) == ("true", "false")


def test_srtp_policy_runs_before_every_other_default_extension(tree):
    names = sorted(p.name for p in (tree / "dialplan/default").glob("*.xml"))
    assert names[0] == Path(SRTP_FILE).name, names


def test_srtp_is_accepted_from_every_phone_with_strong_suites_only(tree):
    offered = _extensions(tree)["srtp-offered"]
    assert offered.get("continue") == "true"
    assert _actions(offered) == [("set", f"rtp_secure_media_inbound=optional:{SUITES}")]
    values = [v for path in tree.rglob("*.xml") for element in parse(path).iter() for v in element.attrib.values()]
    assert not [v for v in values if "NULL_AUTH" in v]


def test_srtp_is_offered_on_every_call_to_a_phone(tree):
    domain = parse(tree / "directory/default.xml").xpath("/include/domain/params")[0]
    values = {p.get("name"): p.get("value") for p in domain.iter("param")}
    assert values["dial-var-rtp_secure_media_outbound"] == f"optional:{SUITES}"


def test_tls_phones_must_offer_srtp(tree):
    extensions = _extensions(tree)
    required, missing = extensions["srtp-required-over-tls"], extensions["srtp-missing-over-tls"]
    for extension in (required, missing):
        conditions = _conditions(extension)
        assert conditions["${sofia_profile_name}"] == "^internal$"
        assert conditions["${sip_via_protocol}"] == "^tls$"
    assert required.get("continue") == "true"
    assert _actions(required) == [("set", f"rtp_secure_media_inbound=mandatory:{SUITES}")]
    # The refusal stops the hunt: nothing after it (no bridge) runs, nothing rings.
    assert missing.get("continue") is None
    assert _actions(missing)[-1] == ("respond", "488")


@pytest.mark.parametrize(
    ("offer", "has_srtp"),
    [
        (_offer(), True),
        (_offer(suite="AES_CM_128_HMAC_SHA1_32"), True),
        (_offer(proto="RTP/AVP", suite=None), False),
        (_offer(suite=None), False),  # RTP/SAVP but no key
        (_offer(proto="RTP/AVP"), False),  # a key in a plain RTP offer (RFC 3711 forbids it)
        (_offer(suite="AES_CM_128_NULL_AUTH"), False),  # encryption without integrity
        ("", False),  # no offer at all (late offer)
    ],
)
def test_the_srtp_conditions_tell_offers_apart(tree, offer, has_srtp):
    # FreeSWITCH uses PCRE; these expressions use only what Python's re reads the same way.
    extensions = _extensions(tree)
    required = _conditions(extensions["srtp-required-over-tls"])["${switch_r_sdp}"]
    missing = _conditions(extensions["srtp-missing-over-tls"])["${switch_r_sdp}"]
    assert bool(re.search(required, offer)) is has_srtp
    assert bool(re.search(missing, offer)) is not has_srtp


def test_without_tls_freeswitch_defaults_apply_and_the_tree_checks(plain_tree):
    assert list(parse(plain_tree / SRTP_FILE).iter("extension")) == []
    domain = parse(plain_tree / "directory/default.xml").xpath("/include/domain/params")[0]
    assert "dial-var-rtp_secure_media_outbound" not in {p.get("name") for p in domain.iter("param")}
    check(plain_tree)
