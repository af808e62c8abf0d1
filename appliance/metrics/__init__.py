# SPDX-License-Identifier: GPL-3.0-or-later
"""The Prometheus exporter: call, trunk and ESL health from FreeSWITCH, and the box's own health.

`exporter` is the daemon (`appliance daemon metrics`); `monitor` keeps the event socket and polls
FreeSWITCH; `calls` counts finished calls by type and result (`causes` classifies them); `freeswitch`
parses FreeSWITCH's replies; `scrape` runs the sources read at scrape time: `backlog` (CDR spool),
`storage`, `certificates`, `wireguard`. See docs/metrics.md.
"""

from __future__ import annotations
