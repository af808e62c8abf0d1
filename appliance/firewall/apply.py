# SPDX-License-Identifier: GPL-3.0-or-later
"""Check, then load the ruleset in one transaction, keeping the bans and trust already in the kernel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from appliance.files import write_atomic
from appliance.firewall import FirewallError
from appliance.firewall.model import Policy
from appliance.firewall.nft import Nft
from appliance.firewall.render import DYNAMIC_SETS, render

log = logging.getLogger(__name__)

DEFAULT_SAVE_PATH = Path("/etc/appliance/firewall.nft")


def apply(policy: Policy, nft: Nft, save: Path | None = DEFAULT_SAVE_PATH) -> dict[str, Any]:
    """Replace the table atomically; save the ruleset (without bans) for the next boot."""
    clean = render(policy)
    nft.check(clean)  # a refused ruleset never gets near the running one
    carried = _carried(nft, policy.table)
    ruleset = render(policy, carried) if carried else clean
    if carried:
        try:
            nft.check(ruleset)
        except FirewallError as exc:
            # An element nft will not take back (a clock jump, a changed type) must not keep the firewall old.
            log.warning("dropping the carried-over bans and trust: %s", exc)
            ruleset, carried = clean, {}
    nft.load(ruleset)
    if save is not None:
        write_atomic(save, clean.encode())
    kept = {name: len(items) for name, items in carried.items()}
    log.info("loaded table inet %s; kept %s", policy.table, kept or "no bans or trust")
    return {"table": policy.table, "kept": kept, "saved": str(save) if save else ""}


def _carried(nft: Nft, table: str) -> dict[str, list[str]]:
    """Return the live elements of the dynamic sets, as the new ruleset should hold them."""
    if not nft.table_exists(table):
        return {}
    out: dict[str, list[str]] = {}
    for name in DYNAMIC_SETS:
        try:
            elements = nft.elements(table, name)
        except FirewallError:
            continue  # a table from an older ruleset without this set
        if elements:
            out[name] = [e.carried() for e in elements]
    return out
