# SPDX-License-Identifier: GPL-3.0-or-later
"""Name parsing and name-constraint checks, without any certificate."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from appliance.pki import names
from appliance.pki.errors import NameNotPermitted, PkiError

CONSTRAINTS = names.Constraints(
    dns=("pbx1.example.org",),
    ips=(ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("10.8.0.2/32")),
)


def test_dns_names_are_canonical_and_malformed_ones_refused():
    assert names.dns_name("PBX1.Example.ORG.") == "pbx1.example.org"
    for bad in ("", "-a.example.org", "a_b.example.org", "a..b", "x" * 64 + ".org"):
        with pytest.raises(PkiError, match="is not a DNS name"):
            names.dns_name(bad)
    with pytest.raises(PkiError, match="wildcard"):
        names.dns_name("*.example.org")


def test_split_names_sorts_dns_from_ip_and_drops_duplicates():
    dns, ips = names.split_names(["pbx1.example.org", "192.168.1.10", "PBX1.example.org", "::1"])
    assert dns == ["pbx1.example.org"]
    assert ips == [ipaddress.ip_address("192.168.1.10"), ipaddress.ip_address("::1")]
    with pytest.raises(PkiError, match="at least one name"):
        names.split_names([])


def test_names_under_a_permitted_dns_name_and_inside_networks_pass():
    names.check(["pbx1.example.org", "phone-101.pbx1.example.org"], [ipaddress.ip_address("10.8.0.2")], CONSTRAINTS)
    names.check([], [ipaddress.ip_address("192.168.1.254")], CONSTRAINTS)


def test_a_name_that_merely_ends_with_the_same_letters_is_refused():
    with pytest.raises(NameNotPermitted) as exc:
        names.check(["evilpbx1.example.org"], [], CONSTRAINTS)
    assert exc.value.names == ["evilpbx1.example.org"]


def test_refusal_names_every_offending_name_and_the_constraints():
    with pytest.raises(NameNotPermitted) as exc:
        names.check(
            ["pbx1.example.org", "pbx2.example.org"],
            [ipaddress.ip_address("10.8.0.3"), ipaddress.ip_address("fd00::1")],
            CONSTRAINTS,
        )
    assert exc.value.names == ["pbx2.example.org", "10.8.0.3", "fd00::1"]
    message = str(exc.value)
    assert "'pbx2.example.org'" in message and "'10.8.0.3'" in message
    assert "DNS: pbx1.example.org; IP: 192.168.1.0/24, 10.8.0.2/32" in message


def test_constraints_without_ip_networks_exclude_every_address():
    nc = names.build(["pbx1.example.org"], [])
    assert nc.permitted_subtrees == [x509.DNSName("pbx1.example.org")]
    assert {g.value for g in nc.excluded_subtrees} == {
        ipaddress.ip_network("0.0.0.0/0"),
        ipaddress.ip_network("::/0"),
    }
    parsed = names.Constraints(dns=("pbx1.example.org",), excluded_ips=tuple(g.value for g in nc.excluded_subtrees))
    with pytest.raises(NameNotPermitted):
        names.check([], [ipaddress.ip_address("192.168.1.10")], parsed)


def test_an_address_with_host_bits_becomes_its_network_and_junk_is_refused():
    nc = names.build(["pbx1.example.org"], ["192.168.1.5/24", "10.8.0.2"])
    assert [g.value for g in nc.permitted_subtrees[1:]] == [
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("10.8.0.2/32"),
    ]
    assert nc.excluded_subtrees is None
    with pytest.raises(PkiError, match="not an IP address or network"):
        names.build(["pbx1.example.org"], ["192.168.1"])
    with pytest.raises(PkiError, match="at least one permitted DNS name"):
        names.build([], ["10.0.0.0/8"])
