# SPDX-License-Identifier: GPL-3.0-or-later
"""Backups of the appliance's configuration: `pgbackup` (pg_dump/pg_restore) and `cli` (`appliance backup`).

See docs/backups.md.
"""
