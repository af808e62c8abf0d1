# SPDX-License-Identifier: GPL-3.0-or-later
"""Phone provisioning profiles: what a phone fetches to configure itself, the CA's root included.

`profile` builds a vendor-neutral profile of one device from the data model (its accounts, the SIP
server, transport, SRTP policy and the fleet root that proves the server); `render` writes it as a
Yealink `<mac>.cfg` or as JSON. The console serves both (`appliance.console.provisioning`).
See docs/provisioning.md.
"""
