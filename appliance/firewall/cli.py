# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance firewall` commands: handlers and their options, added to the `appliance` parser.

`render` prints the ruleset, `check` has nft dry-run it in the kernel, `apply` loads it atomically
(bans and trust kept) and saves it for the next boot; `status` and `unban` look after the SIP bans.
A firewall role calls `appliance firewall check` as its validator and `apply` as its handler.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace, dict[str, Any]], Any]


def _policy(args: argparse.Namespace, cfg: dict[str, Any]):
    from appliance.firewall import sources

    state, _ = sources.read_state(args.state, cfg)
    return sources.gather(cfg, state, use_db=not args.no_db)


def _render(args, cfg):
    from appliance.firewall.render import render

    text = render(_policy(args, cfg))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        return {"written": str(args.out)}
    return {"ruleset": text} if args.json else text.rstrip("\n")


def _check(args, cfg):
    from appliance.firewall.nft import Nft
    from appliance.firewall.render import render

    policy = _policy(args, cfg)
    Nft().check(render(policy))
    return {"table": policy.table, "accepted": True}


def _apply(args, cfg):
    from appliance.firewall.apply import apply
    from appliance.firewall.nft import Nft

    return apply(_policy(args, cfg), Nft(), save=None if args.no_save else args.save)


def _status(args, cfg):
    from appliance.firewall.nft import Nft
    from appliance.firewall.render import BANNED, TRUSTED

    nft, table = Nft(), _table(args, cfg)
    if not nft.table_exists(table):
        return {"table": table, "loaded": False}
    rows = []
    for kind, names in (("banned", BANNED), ("trusted", TRUSTED)):
        for name in names.values():
            rows += [{"address": e.address, "state": kind, "expires_s": e.expires} for e in nft.elements(table, name)]
    return rows if not args.json else {"table": table, "loaded": True, "addresses": rows}


def _unban(args, cfg):
    from appliance.firewall.nft import Nft, family
    from appliance.firewall.render import BANNED

    table = _table(args, cfg)
    Nft().remove(table, BANNED[family(args.address)], args.address)
    return {"unbanned": args.address, "table": table}


def _table(args: argparse.Namespace, cfg: dict[str, Any]) -> str:
    from appliance.firewall import sources

    if args.table:
        return args.table
    state, _ = sources.read_state(args.state, cfg)
    return str(state.get("table", "appliance"))


def add_commands(sub, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the `appliance firewall` actions to sub; cmd(sub, name, handler, help) makes one (appliance.cli._cmd)."""
    from appliance.firewall.apply import DEFAULT_SAVE_PATH

    def sourced(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = cmd(sub, name, handler, help_text)
        p.add_argument("--state", type=Path, help="firewall state, YAML or JSON (default: config, then firewall.yml)")
        p.add_argument("--no-db", action="store_true", help="do not read the site's ports and trunks from PostgreSQL")
        return p

    sourced("render", _render, "print the nftables ruleset").add_argument("--out", type=Path, help="write it here")
    sourced("check", _check, "have nft check the ruleset in the kernel without loading it")
    p = sourced("apply", _apply, "check, then load the ruleset atomically, keeping bans and trust")
    p.add_argument("--save", type=Path, default=DEFAULT_SAVE_PATH, help=f"loaded at boot (default {DEFAULT_SAVE_PATH})")
    p.add_argument("--no-save", action="store_true", help="do not write the boot-time copy")
    for name, handler, help_text in (
        ("status", _status, "list banned and trusted SIP sources"),
        ("unban", _unban, "let a banned address reach the SIP ports again"),
    ):
        p = cmd(sub, name, handler, help_text)
        if name == "unban":
            p.add_argument("address")
        p.add_argument("--state", type=Path, help="firewall state naming the table")
        p.add_argument("--table", help="nftables table (default: the state's, else 'appliance')")
