# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors of the internal CA; each message says what is wrong and, where it helps, what to do."""

from __future__ import annotations


class PkiError(RuntimeError):
    """A CA operation was refused or cannot run."""


class NameNotPermitted(PkiError):
    """A certificate would carry names outside the issuing CA's name constraints."""

    def __init__(self, names: list[str], constraints: str):
        self.names = list(names)
        self.constraints = constraints
        listed = ", ".join(repr(n) for n in self.names)
        super().__init__(f"{listed} outside the intermediate's name constraints ({constraints})")
