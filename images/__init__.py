# SPDX-License-Identifier: GPL-3.0-or-later
"""The image builder: a cached Debian base, the roles applied in a chroot, a partitioned disk, artefacts."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFINITIONS = Path(__file__).resolve().parent


def project_version() -> str:
    """Return the version in pyproject.toml (the images are named after it)."""
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]
