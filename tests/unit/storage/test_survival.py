# SPDX-License-Identifier: GPL-3.0-or-later
"""The survival configuration: phones keep calling, no plaintext secret is left on the root filesystem."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from appliance.storage import survival

USER = """<include>
  <user id="{id}">
    <params>
      <param name="password" value="{pw}"/>
      <param name="vm-password" value="4321"/>
    </params>
  </user>
</include>
"""


def _rendered(root: Path) -> Path:
    (root / "directory" / "default").mkdir(parents=True)
    (root / "freeswitch.xml").write_text('<document type="freeswitch/xml"/>')
    (root / "directory" / "default.xml").write_text('<include><domain name="pbx.example.com"/></include>')
    (root / "directory" / "default" / "101.xml").write_text(USER.format(id="101", pw="s3cret-101"))
    (root / "sip_profiles" / "external").mkdir(parents=True)
    (root / "sip_profiles" / "external" / "carrier.xml").write_text(
        '<include><gateway name="carrier"><param name="password" value="trunk-pw"/></gateway></include>'
    )
    (root / "sip_profiles" / "external.xml").write_text("<include><profile name='external'/></include>")
    (root / "sip_profiles" / "internal.xml").write_text(
        '<profile name="internal"><settings><param name="tls" value="true"/>'
        '<param name="tls-only" value="true"/><param name="challenge-realm" value="auto_from"/>'
        "</settings></profile>"
    )
    (root / "autoload_configs").mkdir()
    (root / "autoload_configs" / "event_socket.conf.xml").write_text(
        '<configuration><settings><param name="password" value="esl-secret"/></settings></configuration>'
    )
    return root


def test_passwords_become_digest_hashes_and_the_trunk_tls_and_esl_secret_go(tmp_path):
    current = _rendered(tmp_path / "current")
    conf = survival.refresh(current, tmp_path / "survival", group=None)
    user = etree.parse(str(conf / "directory" / "default" / "101.xml"))
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    # md5("101:pbx.example.com:s3cret-101"), what a phone's digest answer is checked against
    assert params == {"a1-hash": survival.a1_hash("101", "pbx.example.com", "s3cret-101")}
    assert len(params["a1-hash"]) == 32
    assert not (conf / "sip_profiles" / "external.xml").exists()
    assert not (conf / "sip_profiles" / "external").exists()
    internal = etree.parse(str(conf / "sip_profiles" / "internal.xml"))
    assert {p.get("name"): p.get("value") for p in internal.iter("param")} == {
        "tls": "false",
        "tls-only": "false",
        "challenge-realm": "pbx.example.com",
    }
    everything = b"".join(p.read_bytes() for p in conf.rglob("*") if p.is_file())
    for secret in (b"s3cret-101", b"4321", b"trunk-pw", b"esl-secret"):
        assert secret not in everything
    assert survival.secrets_left(conf) == []
    # the live configuration is untouched
    assert b"s3cret-101" in (current / "directory" / "default" / "101.xml").read_bytes()


def test_a_second_refresh_replaces_the_first_whole(tmp_path):
    current = _rendered(tmp_path / "current")
    survival.refresh(current, tmp_path / "survival", group=None)
    (current / "directory" / "default" / "101.xml").write_text(USER.format(id="101", pw="new-pw"))
    conf = survival.refresh(current, tmp_path / "survival", group=None)
    user = etree.parse(str(conf / "directory" / "default" / "101.xml"))
    assert next(user.iter("param")).get("value") == survival.a1_hash("101", "pbx.example.com", "new-pw")
    assert sorted(p.name for p in (tmp_path / "survival").iterdir()) == ["conf"]


def test_database_locations_are_dropped_for_the_survival_freeswitchs_own_db_directory(tmp_path):
    current = _rendered(tmp_path / "current")
    internal = current / "sip_profiles" / "internal.xml"
    internal.write_text(
        internal.read_text().replace(
            "<settings>", '<settings><param name="odbc-dsn" value="sqlite:///run/appliance/freeswitch-db/x.db"/>'
        )
    )
    (current / "autoload_configs" / "switch.conf.xml").write_text(
        '<configuration><settings><param name="core-db-dsn" value="sqlite:///run/appliance/freeswitch-db/core.db"/>'
        '<param name="max-sessions" value="1000"/></settings></configuration>'
    )
    conf = survival.refresh(current, tmp_path / "survival", group=None)
    switch = etree.parse(str(conf / "autoload_configs" / "switch.conf.xml"))
    assert [p.get("name") for p in switch.iter("param")] == ["max-sessions"]
    profile = etree.parse(str(conf / "sip_profiles" / "internal.xml"))
    assert "odbc-dsn" not in [p.get("name") for p in profile.iter("param")]
    # the live configuration keeps them
    assert "odbc-dsn" in internal.read_text()


def test_a_leading_comment_keeps_a_line_of_its_own_above_the_include(tmp_path):
    # FreeSWITCH's preprocessor drops an included file's <include> line whole; a comment ending on it
    # would be left unclosed and FreeSWITCH would refuse the whole configuration.
    current = _rendered(tmp_path / "current")
    user = current / "directory" / "default" / "101.xml"
    user.write_text("<!-- Generated.\n     Do not edit. -->\n" + USER.format(id="101", pw="s3cret-101"))
    conf = survival.refresh(current, tmp_path / "survival", group=None)
    lines = (conf / "directory" / "default" / "101.xml").read_text().splitlines()
    assert lines[:3] == ["<!-- Generated.", "     Do not edit. -->", "<include>"]
