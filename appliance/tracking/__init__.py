# SPDX-License-Identifier: GPL-3.0-or-later
"""Call tracking: statistics per campaign tag (the tracking tag of the inbound number a call came in on).

`stats` computes them from the CDRs (for the CLI and the console alike); `cli` adds
`appliance tracking stats`. See docs/call-tracking.md.
"""
