# SPDX-License-Identifier: GPL-3.0-or-later
"""The recovery key sealed to the fleet's escrow key: only the private half opens it."""

from __future__ import annotations

import stat

import pytest
from pyrage import x25519

from appliance.storage import escrow


def test_only_the_escrow_private_key_opens_the_sealed_recovery_key(tmp_path):
    hub, other = x25519.Identity.generate(), x25519.Identity.generate()
    key = "abcdef-ghijkl-mnopqr"
    path = escrow.write_sealed(tmp_path / "escrow", "1234-uuid", key, str(hub.to_public()))
    sealed = path.read_bytes()
    assert key.encode() not in sealed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert escrow.open_sealed(sealed, str(hub)) == key
    with pytest.raises(escrow.EscrowError, match="does not open"):
        escrow.open_sealed(sealed, str(other))


def test_a_bad_public_key_is_refused_by_name():
    with pytest.raises(escrow.EscrowError, match="escrow_public_key: not an age X25519 public key"):
        escrow.check_public_key("ssh-ed25519 AAAA", "escrow_public_key")
