# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot: turn a flashed image into one unique, secured appliance (`appliance firstboot`).

One job per module: `settings` (/etc/appliance/firstboot.yml), `runner` (ordered steps with
per-step markers, so an interrupted run resumes), `system` (running commands), `disk` (partition
planning and growing the root filesystem), `storage` (the LUKS2 data volume, crypttab and fstab),
`hostname`, `identity` (SSH host keys, the console admin password), `ca` (the appliance's CA),
`database` (the PostgreSQL cluster, migrations, the first FreeSWITCH configuration), `enrol`
(the fleet hub hook), `report` (what the console shows) and `steps` (the steps in order).
See docs/firstboot.md.
"""
