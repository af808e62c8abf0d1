# SPDX-License-Identifier: GPL-3.0-or-later
"""Caller-ID presentation per extension and call recording: the rules, shared by validation and rendering.

Presentation precedence (docs/recording.md, docs/data-model.md): privacy is never undone, so
a route or an extension that withholds the number wins; otherwise an extension's own choice
wins over the route's; an extension with no choice ("") follows the route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from appliance.model import PRESENTATIONS, RECORDING_MODES

if TYPE_CHECKING:
    from appliance.model import Snapshot

# An age X25519 recipient: "age1" and 58 bech32 characters (32 bytes of key plus checksum).
AGE_RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
EXTENSION_PRESENTATIONS = ("", *PRESENTATIONS)


def effective_presentation(route_presentation: str, extension_presentation: str) -> str:
    """Return what the far end sees for a call by an extension through a route."""
    if "withheld" in (route_presentation, extension_presentation):
        return "withheld"
    return extension_presentation or route_presentation


def presentation_variants(route_presentation: str) -> list[tuple[str, tuple[str, ...]]]:
    """Return (effective presentation, extension settings leading to it) for one route, non-empty only."""
    variants = []
    for effective in PRESENTATIONS:
        settings = tuple(
            p for p in EXTENSION_PRESENTATIONS if effective_presentation(route_presentation, p) == effective
        )
        if settings:
            variants.append((effective, settings))
    return variants


def recipient_problem(key: str) -> str | None:
    """Return why key is not an age X25519 public key, or None."""
    if key.startswith("AGE-SECRET-KEY-"):
        return "is a PRIVATE key: register the public key (age1...) and keep the private key off the appliance"
    if not AGE_RECIPIENT_RE.match(key):
        return "must be an age X25519 public key: 'age1' and 58 letters/digits (`appliance recording keygen`)"
    try:
        import pyrage
    except ImportError:  # the renderer's host may lack it; the pattern above still holds
        return None
    try:
        pyrage.x25519.Recipient.from_str(key)
    except pyrage.RecipientError as exc:
        return f"is not a valid age public key ({exc})"
    return None


def problems(snap: Snapshot) -> Iterator[tuple[str, str, str]]:
    """Yield (object, field, message) for every presentation or recording setting that cannot work."""
    key = snap.site.recording_key
    if key and (why := recipient_problem(key)):
        yield "site", "recording_key", why
    for ext in snap.extensions:
        obj = f"extension {ext.number}"
        if ext.presentation not in EXTENSION_PRESENTATIONS:
            yield (
                obj,
                "presentation",
                f"{ext.presentation!r} is not '' (the route's) or one of {', '.join(PRESENTATIONS)}",
            )
        elif ext.presentation == "company" and not snap.site.company_number:
            yield obj, "presentation", "'company' needs the site's company_number to be set"
        if ext.recording not in RECORDING_MODES:
            yield obj, "recording", f"{ext.recording!r} is not one of {', '.join(RECORDING_MODES)}"
        elif ext.recording != "off" and not key:
            yield (
                obj,
                "recording",
                "needs the owner's public key first (site recording_key): nothing is recorded in clear",
            )
    for route in snap.outbound_routes:
        if route.record_calls and not key:
            yield (
                f"outbound route {route.name}",
                "record_calls",
                "needs the owner's public key first (site recording_key): nothing is recorded in clear",
            )
