# SPDX-License-Identifier: GPL-3.0-or-later
"""The PBX data model: plain frozen records, shared by the store, the renderer and the CLI.

The store turns rows into these records; the renderer turns a `Snapshot` of them into a
FreeSWITCH configuration. Nothing here talks to a database or to FreeSWITCH.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.model.calls import ForwardRule, Mailbox, Schedule
from appliance.model.destinations import DESTINATION_KINDS  # noqa: F401  (re-exported)
from appliance.model.menus import Ivr, IvrOption, Queue, RingGroup  # noqa: F401  (re-exported)

MANAGERS = ("ansible", "console")
DEVICE_KINDS = ("sip_phone", "fxs_gateway")
PRESENTATIONS = ("extension", "company", "withheld")
RECORDING_MODES = ("off", "always", "on_demand")  # an extension's call recording (docs/recording.md)
TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True)
class Site:
    """Site-wide settings: one row, edited by Ansible or the console."""

    domain: str = "pbx.local"
    company_name: str = "Office"
    company_number: str = ""
    lan_ip: str = "127.0.0.1"
    trunk_ip: str = "127.0.0.1"
    internal_sip_port: int = 5060
    internal_tls_port: int = 5061
    external_sip_port: int = 5080
    rtp_start: int = 16384
    rtp_end: int = 32768
    tls_enabled: bool = False
    codecs: str = "OPUS,G722,PCMU,PCMA"
    ring_seconds: int = 30
    managed_by: str = "console"
    # Toll-fraud guard (docs/firewall.md): defaults for every extension, enforced by FreeSWITCH itself.
    max_outside_calls: int = 2  # concurrent calls out through a trunk, per extension
    outside_routes: str = "*"  # outbound routes an extension may use: "*" (all) or "name,name"
    # The owner's age (X25519) public key: every recording is encrypted to it (docs/recording.md).
    recording_key: str = ""
    # PBX features (docs/pbx-features.md): the zone business-hours schedules are read in.
    timezone: str = "UTC"
    # Call parking (docs/pbx-menus.md): a parked call rings back the phone that parked it after this.
    park_timeout_seconds: int = 60


@dataclass(frozen=True)
class Extension:
    number: str
    name: str
    sip_password: str
    voicemail_pin: str
    caller_id_number: str = ""
    outbound_allowed: bool = True
    managed_by: str = "console"
    id: int | None = None
    # Toll-fraud guard overrides: 0 and "" mean the site's max_outside_calls and outside_routes.
    max_outside_calls: int = 0
    outside_routes: str = ""
    # Caller-ID presentation outside: "" follows the route; a withheld route or extension always wins.
    presentation: str = ""
    recording: str = "off"  # one of RECORDING_MODES


@dataclass(frozen=True)
class DeviceLine:
    """One SIP account of a device: a phone's line key or one FXS port of a gateway."""

    port: int
    extension: str
    sip_username: str
    sip_password: str


@dataclass(frozen=True)
class Device:
    name: str
    kind: str
    lines: tuple[DeviceLine, ...]
    mac: str = ""
    model: str = ""
    managed_by: str = "console"
    id: int | None = None
    # Registers over TLS: calls to its lines offer SRTP only (docs/sip-tls.md).
    tls: bool = False


@dataclass(frozen=True)
class Trunk:
    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str = ""
    password: str = ""
    register: bool = False
    from_domain: str = ""
    inbound_cidrs: tuple[str, ...] = ()
    max_channels: int = 0
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class InboundNumber:
    number: str
    destination_kind: str
    destination: str
    tracking_tag: str = ""
    trunk: str = ""
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class OutboundRoute:
    name: str
    patterns: tuple[str, ...]
    trunks: tuple[str, ...]
    presentation: str = "extension"
    strip_digits: int = 0
    prepend: str = ""
    priority: int = 100
    managed_by: str = "console"
    id: int | None = None
    record_calls: bool = False  # record every call through this route (needs site.recording_key)


@dataclass(frozen=True)
class Snapshot:
    """Everything the FreeSWITCH configuration is rendered from, read in one transaction."""

    site: Site = field(default_factory=Site)
    extensions: tuple[Extension, ...] = ()
    devices: tuple[Device, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    inbound_numbers: tuple[InboundNumber, ...] = ()
    outbound_routes: tuple[OutboundRoute, ...] = ()
    # PBX features part 1 (appliance/model/calls.py).
    forward_rules: tuple[ForwardRule, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    mailboxes: tuple[Mailbox, ...] = ()
    # IVR menus, ring groups, call queues (appliance.model.menus)
    ivrs: tuple[Ivr, ...] = ()
    groups: tuple[RingGroup, ...] = ()
    queues: tuple[Queue, ...] = ()

    def extension(self, number: str) -> Extension | None:
        return next((e for e in self.extensions if e.number == number), None)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    def mailbox(self, extension: str) -> Mailbox | None:
        return next((m for m in self.mailboxes if m.extension == extension), None)

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)
