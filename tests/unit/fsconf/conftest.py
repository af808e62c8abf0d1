# SPDX-License-Identifier: GPL-3.0-or-later
"""A realistic office: three extensions, a two-line desk phone, a two-port ATA, two carriers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from appliance.fsconf import Runtime, render
from appliance.model import (
    Device,
    DeviceLine,
    Extension,
    InboundNumber,
    OutboundRoute,
    Site,
    Snapshot,
    Trunk,
)

ESL_PASSWORD = "eSL-7fQ2vX9kR4mT8wLp"


def office(**site_overrides) -> Snapshot:
    """Return the reference snapshot; keyword arguments override Site fields."""
    site = Site(
        domain="pbx.example.org",
        company_name="O'Brien & <Co>",
        company_number="+4930123450",
        lan_ip="192.0.2.10",
        trunk_ip="10.99.0.2",
        tls_enabled=True,
        codecs="OPUS,G722,PCMA",
        ring_seconds=25,
    )
    site = dataclasses.replace(site, **site_overrides)
    return Snapshot(
        site=site,
        extensions=(
            Extension("1001", "O'Brien & <Co>", "Vh3Kq9Zt2Lm7Xc4Rw8Pn", "493817", caller_id_number="+4930123401"),
            Extension("1002", "Reception", "Jd6Sy2Wq8Nf4Bx7Tk3Ma", "572904"),
            Extension("1003", "Lobby phone", "Gp5Rt9Cv3Hz8Lw2Qs6Ye", "618350", outbound_allowed=False),
        ),
        devices=(
            Device(
                "desk-101",
                "sip_phone",
                (
                    DeviceLine(1, "1001", "desk101-l1", "Wb4Nm8Qz2Ks6Xt9Lp3Rd"),
                    DeviceLine(2, "1002", "desk101-l2", "Hc7Yv3Pd9Mf5Tq2Wk8Sz"),
                ),
            ),
            Device(
                "ata-lobby",
                "fxs_gateway",
                (
                    DeviceLine(1, "1003", "ata-lobby-1", "Rk2Fx8Lq5Vn9Bs3Ty7Gm"),
                    DeviceLine(2, "1001", "ata-lobby-2", "Zq6Mh4Wc8Pr2Kd9Xs5Nf"),
                ),
            ),
        ),
        trunks=(
            Trunk(
                "carrier-a",
                "203.0.113.10",
                username="acct4711",
                password="Tq8Lw3Zr6Kx2Vn9Mp",
                register=True,
                from_domain="voip.carrier-a.example",
                inbound_cidrs=("203.0.113.64/27",),
            ),
            Trunk(
                "carrier-b",
                "sip.carrier-b.example",
                port=5070,
                transport="tcp",
                inbound_cidrs=("198.51.100.7",),
            ),
        ),
        inbound_numbers=(
            InboundNumber("+4930123456", "extension", "1001", tracking_tag="google-ads", trunk="carrier-a"),
            InboundNumber("4930123457", "extension", "1002", tracking_tag="flyer"),
        ),
        outbound_routes=(
            OutboundRoute("national", ("0ZX.",), ("carrier-a", "carrier-b"), presentation="withheld"),
            OutboundRoute("emergency", ("112", "110"), ("carrier-a", "carrier-b"), priority=10),
            OutboundRoute(
                "international",
                ("00X.",),
                ("carrier-b",),
                presentation="company",
                strip_digits=2,
                prepend="+",
            ),
        ),
    )


@pytest.fixture
def snapshot() -> Snapshot:
    return office()


@pytest.fixture
def runtime() -> Runtime:
    return Runtime(esl_password=ESL_PASSWORD, esl_port=18021, outbound_socket_port=18084, cert_dir=Path("/etc/x/tls"))


@pytest.fixture
def tree(tmp_path, snapshot, runtime) -> Path:
    """Render the reference snapshot and return the tree."""
    dest = tmp_path / "conf"
    render(snapshot, runtime, dest)
    return dest


def parse(path: Path) -> etree._Element:
    """Parse one rendered file."""
    return etree.parse(str(path)).getroot()


def action_data(element: etree._Element) -> list[str]:
    """Return the data of element's actions, a multiset's split into one `name=value` per variable."""
    found: list[str] = []
    for action in element.xpath("action"):
        data = action.get("data", "")
        if action.get("application") == "multiset" and data.startswith("^^"):
            found += data[3:].split(data[2])
        else:
            found.append(data)
    return found
