# SPDX-License-Identifier: GPL-3.0-or-later
"""check() refuses each kind of bad tree, naming the file, and lists every problem at once."""

from __future__ import annotations

import re

import pytest

from appliance.fsconf import ConfigError, check


def edit(tree, rel, old, new):
    path = tree / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def set_esl_password(tree, password: str) -> None:
    path = tree / "autoload_configs/event_socket.conf.xml"
    path.write_text(re.sub(r'name="password" value="[^"]*"', f'name="password" value="{password}"', path.read_text()))


def problems(tree) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check(tree)
    return list(info.value.problems)


def only(found: list[str], pattern: str) -> str:
    hits = [p for p in found if re.search(pattern, p)]
    assert hits, f"no problem matches {pattern!r} in {found}"
    return hits[0]


def test_malformed_file_is_named(tree):
    edit(tree, "directory/default/1002.xml", "</params>", "</parms>")
    found = problems(tree)
    assert only(found, r"^directory/default/1002\.xml: not well-formed XML")


def test_include_target_that_is_not_a_well_formed_fragment(tree):
    (tree / "dialplan/public/999.xml").write_text('<include>\n  <extension name="x">\n</include>\n')
    found = problems(tree)
    assert only(found, r"^dialplan/public/999\.xml: included by dialplan/public\.xml:\d+ but not a well-formed")
    # The document FreeSWITCH would assemble breaks too, and the error points into the tree.
    assert only(found, r"^dialplan/[a-z/0-9_.]+\.xml:\d+: the document assembled from freeswitch\.xml is not")


def test_cluecon_event_socket_password(tree):
    set_esl_password(tree, "ClueCon")
    found = problems(tree)
    assert only(found, r"^autoload_configs/event_socket\.conf\.xml: mentions ClueCon")
    assert only(found, r"^autoload_configs/event_socket\.conf\.xml:\d+: password 'ClueCon' is a default")


def test_empty_event_socket_password_falls_back_to_cluecon(tree):
    set_esl_password(tree, "")
    assert only(problems(tree), r"^autoload_configs/event_socket\.conf\.xml:\d+: event socket has no password")


def test_event_socket_listening_beyond_loopback(tree):
    edit(tree, "autoload_configs/event_socket.conf.xml", 'value="127.0.0.1"', 'value="0.0.0.0"')
    assert only(problems(tree), r"^autoload_configs/event_socket\.conf\.xml:\d+: event socket listen-ip '0\.0\.0\.0'")


def test_user_password_1234(tree):
    edit(tree, "directory/default/1002.xml", 'name="password" value="Jd6Sy2Wq8Nf4Bx7Tk3Ma"',
         'name="password" value="1234"')  # fmt: skip
    assert only(problems(tree), r"^directory/default/1002\.xml:\d+: password '1234' is a default")


def test_user_with_empty_password(tree):
    edit(tree, "directory/default/desk101-l1.xml", 'value="Wb4Nm8Qz2Ks6Xt9Lp3Rd"', 'value=""')
    assert only(problems(tree), r"^directory/default/desk101-l1\.xml:\d+: user 'desk101-l1' has no password")


def test_user_without_params_has_no_password(tree):
    path = tree / "directory/default/1003.xml"
    path.write_text(re.sub(r"<params>.*?</params>", "", path.read_text(), flags=re.S))
    assert only(problems(tree), r"^directory/default/1003\.xml:\d+: user '1003' has no password")


def test_default_password_variable(tree):
    edit(
        tree,
        "vars.xml",
        "</include>",
        '  <X-PRE-PROCESS cmd="set" data="default_password=1234"/>\n</include>',
    )
    assert only(problems(tree), r"^vars\.xml: uses the default_password variable")


def test_bridge_to_a_missing_gateway(tree):
    (tree / "sip_profiles/external/carrier-b.xml").unlink()
    found = problems(tree)
    hit = only(found, r"^dialplan/default/50_route_0001_emergency\.xml:\d+: bridges to gateway 'carrier-b'")
    assert "no SIP profile defines" in hit


def test_registering_gateway_without_credentials(tree):
    path = tree / "sip_profiles/external/carrier-a.xml"
    path.write_text(re.sub(r'\s*<param name="password"[^>]*/>', "", path.read_text()))
    assert only(problems(tree), r"^sip_profiles/external/carrier-a\.xml:\d+: gateway carrier-a registers but lacks")


def test_external_profile_without_acl(tree):
    edit(tree, "sip_profiles/external.xml", '<param name="apply-inbound-acl" value="trunks"/>', "")
    assert only(problems(tree), r"^sip_profiles/external\.xml:\d+: profile external takes calls without auth")


def test_profile_acl_that_allows_by_default(tree):
    edit(
        tree,
        "autoload_configs/acl.conf.xml",
        '<list name="trunks" default="deny">',
        '<list name="trunks" default="allow">',
    )
    assert only(
        problems(tree),
        r"^sip_profiles/external\.xml:\d+: profile external applies ACL 'trunks', which allows",
    )


def test_blind_registration(tree):
    edit(
        tree,
        "sip_profiles/internal.xml",
        'name="accept-blind-reg" value="false"',
        'name="accept-blind-reg" value="true"',
    )
    assert only(problems(tree), r"^sip_profiles/internal\.xml:\d+: profile internal has accept-blind-reg enabled")


def test_preprocessor_exec_is_refused(tree):
    edit(tree, "vars.xml", "</include>", '  <X-PRE-PROCESS cmd="exec" data="curl http://x/"/>\n</include>')
    assert only(problems(tree), r"^vars\.xml:\d+: preprocessor command 'exec' is not allowed")


def test_line_freeswitch_would_drop(tree):
    edit(tree, "directory/default/1002.xml", 'value="Reception"', 'value="x-pre-process"')
    assert only(problems(tree), r"^directory/default/1002\.xml:\d+: mentions the preprocessor .* drops the line")


def test_processing_instruction_line_freeswitch_would_drop(tree):
    edit(tree, "dialplan/default.xml", '<context name="default">', '<context name="default"><?pi x?>')
    assert only(problems(tree), r"^dialplan/default\.xml:\d+: FreeSWITCH drops every line containing '<\?'")


def test_unset_preprocessor_variable(tree):
    edit(
        tree,
        "sip_profiles/internal.xml",
        'name="sip-ip" value="192.0.2.10"',
        'name="sip-ip" value="$${lan_ip}"',
    )
    assert only(problems(tree), r"^sip_profiles/internal\.xml:\d+: \$\$\{lan_ip\} is never set")


def test_missing_root_document(tree):
    (tree / "freeswitch.xml").unlink()
    assert only(problems(tree), r"^freeswitch\.xml: missing")


def test_every_problem_is_reported_at_once(tree):
    edit(tree, "autoload_configs/event_socket.conf.xml", 'value="127.0.0.1"', 'value="::"')
    edit(tree, "directory/default/1002.xml", "</params>", "</parms>")
    (tree / "sip_profiles/external/carrier-a.xml").unlink()
    found = problems(tree)
    assert len(found) >= 3
    for name in ("event_socket.conf.xml", "directory/default/1002.xml", "50_route_0001_emergency.xml"):
        assert any(name in p for p in found), name
    with pytest.raises(ConfigError, match=r"FreeSWITCH configuration refused \(\d+ problem"):
        check(tree)
