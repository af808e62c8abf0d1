# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted data volume after first boot: unattended unlock, escrowed recovery key, degraded boot, status.

First boot (appliance.firstboot.volume) creates the volume; this package binds it to Tang, seals its
recovery key to the fleet's escrow key, unlocks it at every boot and says what is wrong when it cannot.
docs/storage.md.
"""
