# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance` command: script the data model, render and reload FreeSWITCH's configuration.

Every command prints a table for people or, with --json, one JSON document for scripts. A refused
change exits 2 and names each object and field that is wrong; nothing of it is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from appliance import config as configuration
from appliance.model.validate import ValidationFailed
from appliance.store.db import connect
from appliance.store.migrate import migrate
from appliance.store.repo import Store, load_snapshot

SECRET_FIELDS = {"sip_password", "voicemail_pin", "password"}


DAEMONS = {
    "listener": "appliance.callcontrol.listener",
    "outbound": "appliance.callcontrol.outbound",
    "metrics": "appliance.metrics.exporter",
    "sipguard": "appliance.firewall.guard",
    "recorder": "appliance.recording.recorder",
    "webhooks": "appliance.webhooks.daemon",
    "announcer": "appliance.callcontrol.announcer",
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["daemon"]:
        return _daemon(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not hasattr(args, "handler"):
        parser.print_help()
        return 1
    try:
        cfg = configuration.load(args.config, _overrides(args))
        result = args.handler(args, cfg)
    except ValidationFailed as exc:
        return _fail(args, "refused", [dataclasses.asdict(p) for p in exc.problems])
    except (configuration.ConfigError, RuntimeError, OSError) as exc:
        return _fail(args, str(exc), [])
    _print(args, result)
    return 0


def _daemon(argv: list[str]) -> int:
    """Run a long-lived daemon; its own options follow its name (`appliance daemon listener --help`)."""
    if not argv or argv[0] not in DAEMONS:
        print(f"usage: appliance daemon {{{','.join(DAEMONS)}}} [options]", file=sys.stderr)
        return 1
    import importlib

    return importlib.import_module(DAEMONS[argv[0]]).main(argv[1:])


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"database": {"dsn": args.dsn}} if args.dsn else {}


def _fail(args: argparse.Namespace, message: str, problems: list[dict[str, str]]) -> int:
    if args.json:
        print(json.dumps({"error": message, "problems": problems}, indent=2), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)
        for p in problems:
            print(f"  {p['obj']}: {p['field']}: {p['message']}", file=sys.stderr)
    return 2


def _print(args: argparse.Namespace, result: Any) -> None:
    data = _plain(result, show_secrets=getattr(args, "secrets", False))
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        _table(data)
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            print(f"{key:<{width}}  {_cell(value)}")
    elif data is not None:
        print(data)


def _plain(value: Any, show_secrets: bool) -> Any:
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.name != "id"}
    if isinstance(value, dict):
        return {
            k: ("********" if k in SECRET_FIELDS and v and not show_secrets else _plain(v, show_secrets))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v, show_secrets) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _table(rows: list[Any]) -> None:
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# -- handlers ------------------------------------------------------------------------------------


def _store(args: argparse.Namespace, cfg: dict[str, Any]) -> Store:
    return Store(connect(cfg["database"]["dsn"], autocommit=True), actor=args.managed_by)


def _snapshot(cfg: dict[str, Any]):
    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        return load_snapshot(conn)


def _db_migrate(args, cfg):
    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        return {"applied": migrate(conn)}


def _site_show(args, cfg):
    return _snapshot(cfg).site


def _site_set(args, cfg):
    return _store(args, cfg).update_site(**_assignments(args.settings, _site_types()))


def _site_types() -> dict[str, type]:
    from appliance.model import Site

    return {f.name: type(f.default) for f in dataclasses.fields(Site)}


def _assignments(items: list[str], types: dict[str, type]) -> dict[str, Any]:
    """Turn key=value words into typed values, by the field's type in the model."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValidationFailed([_problem("arguments", item, "expected key=value")])
        kind = types.get(key, str)
        try:
            out[key] = _convert(raw, kind)
        except ValueError:
            raise ValidationFailed([_problem("arguments", key, f"{raw!r} is not a valid {kind.__name__}")]) from None
    return out


def _convert(raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.lower() not in {"true", "false", "yes", "no", "1", "0"}:
            raise ValueError(raw)
        return raw.lower() in {"true", "yes", "1"}
    if kind is int:
        return int(raw)
    if kind is tuple:
        return [v for v in raw.split(",") if v]
    return raw


def _problem(obj: str, field: str, message: str):
    from appliance.model.validate import Problem

    return Problem(obj, field, message)


def _ext_add(args, cfg):
    return _store(args, cfg).add_extension(
        args.number,
        args.name,
        caller_id_number=args.caller_id or "",
        voicemail_pin=args.pin,
        sip_password=args.password,
        outbound_allowed=not args.no_outbound,
        presentation=args.presentation,
        recording=args.recording,
    )


def _ext_list(args, cfg):
    return list(_snapshot(cfg).extensions)


def _ext_show(args, cfg):
    ext = _snapshot(cfg).extension(args.number)
    if ext is None:
        raise ValidationFailed([_problem(f"extension {args.number}", "number", "does not exist")])
    return ext


def _ext_set(args, cfg):
    from appliance.model import Extension

    types = {
        f.name: type(f.default) if f.default is not dataclasses.MISSING else str for f in dataclasses.fields(Extension)
    }
    return _store(args, cfg).update_extension(args.number, **_assignments(args.settings, types))


def _ext_remove(args, cfg):
    _store(args, cfg).remove_extension(args.number)
    return {"removed": args.number}


def _dev_add(args, cfg):
    lines = []
    for spec in args.line:
        port, sep, ext = spec.partition(":")
        if not sep or not port.isdigit():
            raise ValidationFailed([_problem(f"device {args.name}", "line", f"{spec!r} must look like PORT:EXTENSION")])
        lines.append({"port": int(port), "extension": ext})
    return _store(args, cfg).add_device(
        args.name, args.kind, lines, mac=args.mac or "", model=args.model or "", tls=args.tls
    )


def _dev_list(args, cfg):
    return list(_snapshot(cfg).devices)


def _dev_remove(args, cfg):
    _store(args, cfg).remove_device(args.name)
    return {"removed": args.name}


def _trunk_add(args, cfg):
    return _store(args, cfg).add_trunk(
        args.name,
        args.host,
        port=args.port,
        transport=args.transport,
        username=args.username or "",
        password=args.password or "",
        register=args.register,
        from_domain=args.from_domain or "",
        inbound_cidrs=tuple(args.inbound_cidr or ()),
        max_channels=args.max_channels,
    )


def _trunk_list(args, cfg):
    return list(_snapshot(cfg).trunks)


def _trunk_remove(args, cfg):
    _store(args, cfg).remove_trunk(args.name)
    return {"removed": args.name}


def _number_add(args, cfg):
    kind, to = args.kind, args.to
    if kind is None and ":" in to:  # --to KIND:VALUE, as `appliance ivr|group|queue` write destinations
        from appliance.store.menus_cli import destination

        kind, to = destination(f"inbound number {args.number}", "destination", to)
    return _store(args, cfg).add_number(
        args.number, to, destination_kind=kind or "extension", tracking_tag=args.tag or "", trunk=args.trunk or ""
    )


def _number_list(args, cfg):
    return list(_snapshot(cfg).inbound_numbers)


def _number_remove(args, cfg):
    _store(args, cfg).remove_number(args.number)
    return {"removed": args.number}


def _route_add(args, cfg):
    return _store(args, cfg).add_route(
        args.name,
        args.pattern,
        args.trunk,
        presentation=args.presentation,
        strip_digits=args.strip,
        prepend=args.prepend or "",
        priority=args.priority,
        record_calls=args.record,
    )


def _route_list(args, cfg):
    return list(_snapshot(cfg).outbound_routes)


def _route_remove(args, cfg):
    _store(args, cfg).remove_route(args.name)
    return {"removed": args.name}


def _config_render(args, cfg):
    from appliance.fsconf import service

    return service.render_only(cfg, _snapshot(cfg), Path(args.dest))


def _config_apply(args, cfg):
    from appliance.fsconf import service

    return service.apply(cfg, _snapshot(cfg), reload=not args.no_reload)


def _cdr_list(args, cfg):
    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        return conn.execute(
            "SELECT uuid, call_type, caller_number, destination, extension, trunk, did, tracking_tag,"
            " started_at, billsec, hangup_cause FROM cdrs ORDER BY started_at DESC LIMIT %s",
            (args.limit,),
        ).fetchall()


# -- vpn: WireGuard to the fleet hub (appliance.vpn) ---------------------------------------------


def _vpn(action: str):
    """Return the handler of `appliance vpn <action>`; the VPN package (pyroute2) loads only when used."""

    def handler(args, cfg):
        from appliance.vpn import cli as vpn_cli

        return getattr(vpn_cli, action)(args, cfg)

    return handler


# -- end vpn -------------------------------------------------------------------------------------


# -- argument parsing ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="appliance", description=__doc__.splitlines()[0])
    _common_options(p, None)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    db = _group(sub, "db", "database schema")
    _cmd(db, "migrate", _db_migrate, "apply pending migrations (idempotent)")

    site = _group(sub, "site", "site-wide settings")
    _cmd(site, "show", _site_show, "show the site settings")
    _cmd(site, "set", _site_set, "change settings: key=value ...").add_argument("settings", nargs="+")

    ext = _group(sub, "extension", "extensions (numbers people have)")
    a = _cmd(ext, "add", _ext_add, "add an extension; credentials are generated unless given")
    a.add_argument("number")
    a.add_argument("name")
    a.add_argument("--caller-id", help="the number shown outside (E.164), usually its DID")
    a.add_argument("--pin", help="voicemail PIN (generated when omitted)")
    a.add_argument("--password", help="SIP password (generated when omitted)")
    a.add_argument("--no-outbound", action="store_true", help="forbid calls to outside numbers")
    a.add_argument(
        "--presentation",
        choices=["", "extension", "company", "withheld"],
        default="",
        help="caller ID shown outside: '' follows the route; withheld always wins (docs/recording.md)",
    )
    a.add_argument(
        "--recording", choices=["off", "always", "on_demand"], default="off", help="record calls (needs recording_key)"
    )
    _cmd(ext, "list", _ext_list, "list extensions")
    s = _cmd(ext, "show", _ext_show, "show one extension")
    s.add_argument("number")
    s.add_argument("--secrets", action="store_true", help="print the SIP password and PIN")
    s = _cmd(ext, "set", _ext_set, "change fields: key=value ...")
    s.add_argument("number")
    s.add_argument("settings", nargs="+")
    _cmd(ext, "remove", _ext_remove, "remove an extension").add_argument("number")

    dev = _group(sub, "device", "SIP phones and FXS gateways")
    a = _cmd(dev, "add", _dev_add, "add a device; each --line PORT:EXT gets its own SIP account")
    a.add_argument("name")
    a.add_argument("--kind", choices=["sip_phone", "fxs_gateway"], required=True)
    a.add_argument("--line", action="append", required=True, metavar="PORT:EXT")
    a.add_argument("--mac")
    a.add_argument("--model")
    a.add_argument("--tls", action="store_true", help="registers over TLS: calls to it require SRTP")
    _cmd(dev, "list", _dev_list, "list devices and their accounts").add_argument("--secrets", action="store_true")
    _cmd(dev, "remove", _dev_remove, "remove a device").add_argument("name")

    trunk = _group(sub, "trunk", "carrier trunks")
    a = _cmd(trunk, "add", _trunk_add, "add a carrier trunk")
    a.add_argument("name")
    a.add_argument("host")
    a.add_argument("--port", type=int, default=5060)
    a.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    a.add_argument("--username")
    a.add_argument("--password")
    a.add_argument("--register", action="store_true")
    a.add_argument("--from-domain")
    a.add_argument("--inbound-cidr", action="append", help="address or network the carrier sends calls from")
    a.add_argument("--max-channels", type=int, default=0)
    _cmd(trunk, "list", _trunk_list, "list trunks").add_argument("--secrets", action="store_true")
    _cmd(trunk, "remove", _trunk_remove, "remove a trunk").add_argument("name")

    num = _group(sub, "number", "inbound numbers (DIDs)")
    a = _cmd(num, "add", _number_add, "route an inbound number to an extension or another destination")
    a.add_argument("number")
    a.add_argument("--to", required=True, metavar="DESTINATION", help="an extension, or KIND:VALUE (e.g. ivr:main)")
    from appliance.model.destinations import DESTINATION_KINDS

    a.add_argument("--kind", choices=DESTINATION_KINDS, help="destination kind of --to (default: extension)")
    a.add_argument("--tag", help="tracking tag (campaign) recorded on every call's CDR")
    a.add_argument("--trunk")
    _cmd(num, "list", _number_list, "list inbound numbers")
    _cmd(num, "remove", _number_remove, "remove an inbound number").add_argument("number")

    route = _group(sub, "route", "outbound routes")
    a = _cmd(route, "add", _route_add, "add an outbound route")
    a.add_argument("name")
    a.add_argument("--pattern", action="append", required=True, help="dial pattern, e.g. 0ZXXXXXXX. (repeatable)")
    a.add_argument("--trunk", action="append", required=True, help="trunk, in failover order (repeatable)")
    a.add_argument("--presentation", choices=["extension", "company", "withheld"], default="extension")
    a.add_argument("--strip", type=int, default=0, help="leading digits to remove")
    a.add_argument("--prepend", help="digits to put in front after stripping")
    a.add_argument("--priority", type=int, default=100)
    a.add_argument("--record", action="store_true", help="record every call (needs the site's recording_key)")
    _cmd(route, "list", _route_list, "list outbound routes")
    _cmd(route, "remove", _route_remove, "remove a route").add_argument("name")

    conf = _group(sub, "config", "FreeSWITCH configuration")
    _cmd(conf, "render", _config_render, "render and check into a directory, touching nothing live").add_argument(
        "dest"
    )
    _cmd(conf, "apply", _config_apply, "render, check, swap atomically and reload FreeSWITCH").add_argument(
        "--no-reload", action="store_true", help="swap the files only (FreeSWITCH not running)"
    )

    # PBX features part 1 (docs/pbx-features.md): forward, schedule, voicemail.
    from appliance.cli_calls import add_commands as add_call_commands

    add_call_commands(sub, _group, _cmd)

    sub.add_parser("daemon", help=f"run a daemon: {', '.join(DAEMONS)} (options after its name)")

    cdr = _group(sub, "cdr", "call detail records")
    _cmd(cdr, "list", _cdr_list, "list the newest CDRs").add_argument("--limit", type=int, default=20)

    # -- vpn: WireGuard to the fleet hub (appliance.vpn) -----------------------------------------
    vpn = _group(sub, "vpn", "WireGuard tunnel to the fleet hub (on the hub: its appliances)")

    def vpn_cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        c = _cmd(vpn, name, _vpn(name.replace("-", "_")), help_text)
        c.add_argument("--state", type=Path, help="desired state, YAML or JSON (default: config's vpn section)")
        return c

    for name, help_text in (
        ("keygen", "create the private key on this box unless it exists; print the public key"),
        ("pubkey", "print the public key, the one key that leaves the box"),
    ):
        vpn_cmd(name, help_text).add_argument("--key", type=Path, help="private key file (default: from the state)")
    vpn_cmd("pskgen", "hub: create a preshared key file (0600) unless it exists").add_argument(
        "--key", type=Path, required=True, help="the preshared key file, e.g. <psk_dir>/<appliance>.psk"
    )
    vpn_cmd("up", "create or update the tunnel to match the desired state (idempotent)")
    vpn_cmd("check", "validate the desired state without touching the interface (Ansible validates with it)")
    for name, help_text in (("down", "remove the tunnel interface"), ("status", "handshake age and counters per peer")):
        vpn_cmd(name, help_text).add_argument("--interface", help="interface name (default: from the state)")
    a = vpn_cmd("add-peer", "hub: enrol an appliance (writes the peers file, applies when up)")
    a.add_argument("name")
    a.add_argument("--public-key", required=True, help="the appliance's `appliance vpn pubkey`")
    a.add_argument("--allowed-ip", action="append", required=True, help="its tunnel address, /32 or /128")
    a.add_argument("--psk-file", type=Path, help="existing preshared key (default: generate one in psk_dir)")
    a.add_argument("--endpoint", help="host:port, only for a peer the hub must dial")
    a.add_argument("--keepalive", type=int, default=0, help="persistent keepalive seconds (0: off)")
    a.add_argument("--no-apply", action="store_true", help="write the peers file only")
    r = vpn_cmd("remove-peer", "hub: remove an enrolled appliance")
    r.add_argument("name")
    r.add_argument("--no-apply", action="store_true", help="write the peers file only")
    # -- end vpn ---------------------------------------------------------------------------------

    # -- pki: the internal CA; handlers and options in appliance/pki/cli.py ----------------------
    from appliance.pki.cli import add_commands as add_pki_commands

    add_pki_commands(_group(sub, "pki", "internal CA: fleet root, this appliance's intermediate, certificates"), _cmd)
    # -- end pki ---------------------------------------------------------------------------------

    # -- firstboot: turn a flashed image into this box; steps in appliance/firstboot/ ------------
    from appliance.firstboot import cli as firstboot_cli

    fb = sub.add_parser("firstboot", help="first boot: data volume, per-device secrets, identity (resumable)")
    fb.set_defaults(handler=firstboot_cli.run)
    _common_options(fb, argparse.SUPPRESS)
    firstboot_cli.add_options(fb)
    # -- end firstboot ---------------------------------------------------------------------------

    # -- firewall: nftables and SIP bans; handlers and options in appliance/firewall/cli.py --------
    from appliance.firewall.cli import add_commands as add_firewall_commands

    add_firewall_commands(_group(sub, "firewall", "nftables firewall: render, check, apply; SIP bans"), _cmd)
    # -- end firewall ----------------------------------------------------------------------------

    # -- recording: encrypted call recordings; handlers and options in appliance/recording/cli.py -----
    from appliance.recording.cli import add_commands as add_recording_commands

    add_recording_commands(_group(sub, "recording", "call recordings encrypted to the owner's key"), _cmd)

    # -- tracking: per-campaign call statistics; handlers and options in appliance/tracking/cli.py ----
    from appliance.tracking.cli import add_commands as add_tracking_commands

    add_tracking_commands(_group(sub, "tracking", "call tracking: statistics per campaign tag"), _cmd)
    # -- end recording, tracking -----------------------------------------------------------------

    # -- menus: IVR menus, ring groups, queues; handlers and options in appliance/store/menus_cli.py
    from appliance.store.menus_cli import add_commands as add_menu_commands

    add_menu_commands(lambda name, help_text: _group(sub, name, help_text), _cmd)
    # -- end menus -------------------------------------------------------------------------------

    # -- storage: the data volume's unlock, recovery and status; appliance/storage/cli.py -----------
    from appliance.storage.cli import add_commands as add_storage_commands

    add_storage_commands(_group(sub, "storage", "encrypted data volume: status, unlock, recovery, escrow"), _cmd)
    # -- end storage -----------------------------------------------------------------------------

    # -- console: web console and REST API; handlers and options in appliance/console/cli.py -----
    from appliance.console.cli import add_commands as add_console_commands

    add_console_commands(_group(sub, "console", "web console and REST API: users, API tokens, HTTPS server"), _cmd)
    # -- end console -----------------------------------------------------------------------------

    # -- backup: the configuration with pg_dump/pg_restore; handlers in appliance/backup/cli.py ----
    from appliance.backup.cli import add_commands as add_backup_commands

    add_backup_commands(_group(sub, "backup", "back up and restore the configuration (pg_dump/pg_restore)"), _cmd)
    # -- end backup ------------------------------------------------------------------------------
    return p


def _common_options(p: argparse.ArgumentParser, default: Any) -> None:
    """Add the options every command takes, so they work before or after the command words."""
    suppress = {"default": argparse.SUPPRESS} if default is argparse.SUPPRESS else {}
    p.add_argument("--config", type=Path, help="main config file (default /etc/appliance/config.yml)", **suppress)
    p.add_argument("--dsn", help="PostgreSQL connection string (overrides the config file)", **suppress)
    p.add_argument("--json", action="store_true", help="print JSON for scripts", **suppress)
    p.add_argument(
        "--managed-by",
        choices=["console", "ansible"],
        help="who makes this change; Ansible-managed objects are read-only to 'console'",
        **({"default": "console"} | suppress),
    )
    p.add_argument("-v", "--verbose", action="store_true", **suppress)


_LEAF_OPTIONS = argparse.ArgumentParser(add_help=False)
_common_options(_LEAF_OPTIONS, argparse.SUPPRESS)


def _group(sub, name: str, help_text: str):
    return sub.add_parser(name, help=help_text).add_subparsers(title=f"{name} commands", metavar="ACTION")


def _cmd(sub, name: str, handler, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, parents=[_LEAF_OPTIONS])
    p.set_defaults(handler=handler)
    return p


if __name__ == "__main__":
    sys.exit(main())
