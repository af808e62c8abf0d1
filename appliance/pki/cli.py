# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance pki` commands: handlers and their options, added to the `appliance` parser.

Root commands (`init-root`, `sign-intermediate`, and `list`/`revoke`/`crl` with --root-dir) run on the
hub or the integrator's machine, where the fleet root lives; the others run on the appliance, against
its CA directory (`pki.dir` in the configuration, or --pki-dir). `serve-http` publishes a CA's public/
folder over plain HTTP on either (--dir).
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

CONFIG_DEFAULTS: dict[str, Any] = {
    "dir": "/var/lib/appliance/pki",
    "crl_url": "",
    "freeswitch_extra_ca": [],
}

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, dict[str, Any]], Any]


def now() -> datetime:
    """Return the time the commands act at (tests replace this to move the clock)."""
    from appliance.pki import clock

    return clock.utc()


def settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return the `pki` configuration section over its defaults."""
    return CONFIG_DEFAULTS | dict(cfg.get("pki") or {})


# -- handlers: the fleet root --------------------------------------------------------------------


def _init_root(args, cfg):
    from appliance.pki.root import create_root
    from appliance.pki.store import CaStore

    root = create_root(args.cn, args.root_dir, args.days, now=now(), passphrase=_passphrase(args))
    store = CaStore.root(args.root_dir)
    return _ca_summary(root.cert) | {"cert": str(store.cert_path), "key": str(store.key_path)}


def _sign_intermediate(args, cfg):
    from appliance import files
    from appliance.pki import keys, names
    from appliance.pki.root import load_root, sign_intermediate
    from appliance.pki.store import CaStore

    store = CaStore.root(args.root_dir)
    root = load_root(args.root_dir, _passphrase(args))
    csr = keys.read_csr(args.csr)
    cert = sign_intermediate(root, csr, args.dns, args.ip or [], args.days, now=now(), crl_url=args.crl_url or None)
    out = args.out or args.csr.with_suffix(".pem")
    files.write_atomic(out, keys.cert_pem(cert), 0o644)
    constraints = names.of(cert)
    with store.transaction() as index:
        index.records.append(store.record(cert, "intermediate", [*constraints.dns, *map(str, constraints.ips)], None))
    return _ca_summary(cert) | {"cert": str(out), "root": str(store.cert_path), "constraints": constraints.describe()}


# -- handlers: the appliance's intermediate ------------------------------------------------------


def _request(args, cfg):
    from appliance.pki.intermediate import create_request, request_paths

    store = _store(args, cfg)
    csr = create_request(store, args.cn or f"{socket.getfqdn()} appliance CA", replace=args.replace)
    key_path, csr_path = request_paths(store)
    return {"csr": str(csr_path), "key": str(key_path), "subject": csr.subject.rfc4514_string()}


def _install(args, cfg):
    from appliance.pki import intermediate, keys, names, renewal

    store = _store(args, cfg)
    before = store.ca_key().public_key() if store.key_path.exists() else None
    root = keys.read_cert(args.root) if args.root else None
    cert = intermediate.install(store, keys.read_cert(args.cert), root, now=now())
    out = _ca_summary(cert) | {"cert": str(store.cert_path), "constraints": names.of(cert).describe()}
    if before is not None and not keys.same_key(before, cert.public_key()):
        # A new intermediate key: reissue every current certificate under it, same names.
        done = renewal.renew_due(store, now=now(), everything=True)
        out["reissued"] = [new.serial for _old, new in done.renewed]
        out["freeswitch"] = _export_after(args, cfg, store, [new for _old, new in done.renewed])
        _raise_failures(done)
    return out


def _issue(args, cfg):
    from appliance.pki import issue, keys

    store = _store(args, cfg)
    csr = keys.read_csr(args.csr) if args.csr else None
    record = issue.issue(
        store, args.profile, args.name, now=now(), days=args.days, csr=csr, crl_url=_crl_url(args, cfg)
    )
    return _issued_row(record, store) | {"freeswitch": _export_after(args, cfg, store, [record])}


def _list(args, cfg):
    from appliance.pki import renewal

    store = _store(args, cfg)
    at = now()
    rows = []
    for record in store.load().records:
        state = renewal.status(record, at)
        if args.all or state in ("valid", "due"):
            rows.append(_record_row(record, state))
    return rows


def _renew(args, cfg):
    from appliance.pki import crl, renewal

    if not args.serial and not args.all_due:
        raise _refused("renew", "serial", "name one or more SERIALs, or give --all-due")
    store = _store(args, cfg)
    at = now()
    if args.all_due:
        done = renewal.renew_due(store, now=at, crl_url=_crl_url(args, cfg))
    else:
        done = renewal.Renewals()
        for serial in args.serial:
            old = store.load().find(serial)
            done.renewed.append((old, renewal.renew(store, serial, now=at, crl_url=_crl_url(args, cfg))))
    out: dict[str, Any] = {
        "renewed": [{"old": old.serial, "new": new.serial, "profile": new.profile} for old, new in done.renewed],
        "crl": None,
    }
    if args.all_due and crl.crl_due(store, at):
        crl.publish_crl(store, now=at)
        out["crl"] = str(store.crl_path)
    issuer = store.ca_cert()
    out["intermediate_due"] = renewal.needs_renewal(issuer, at)
    if out["intermediate_due"]:
        log.warning(
            "the intermediate expires on %s: run `appliance pki create-intermediate-request` for the hub",
            issuer.not_valid_after_utc,
        )
    out["freeswitch"] = _export_after(args, cfg, store, [new for _old, new in done.renewed])
    _raise_failures(done)
    return out


def _revoke(args, cfg):
    from appliance.pki import crl

    store = _store(args, cfg)
    record = crl.revoke(store, args.serial, now=now(), reason=args.reason, passphrase=_passphrase(args))
    out = _record_row(record, "revoked") | {"crl": str(store.crl_path)}
    if record.profile in ("console", "sip"):
        names = " ".join(f"--name {n}" for n in record.names)
        out["next"] = f"issue its replacement: appliance pki issue --profile {record.profile} {names}"
    return out


def _crl(args, cfg):
    from appliance.pki import crl

    store = _store(args, cfg)
    published = crl.publish_crl(store, now=now(), days=args.days, passphrase=_passphrase(args))
    return {
        "crl": str(store.crl_path),
        "crl_pem": str(store.crl_pem_path),
        "number": store.load().crl_number,
        "next_update": published.next_update_utc,
        "revoked": [f"{r.serial_number:X}" for r in published],
    }


def _export(args, cfg):
    from appliance.pki.freeswitch import export_freeswitch

    paths = export_freeswitch(_cert_dir(args, cfg), _store(args, cfg), args.serial, extra_ca=_extra_ca(cfg), now=now())
    return {k: str(v) for k, v in paths.items()}


def _export_console(args, cfg):
    from appliance.pki.console_tls import export_console

    paths = export_console(args.dir, _store(args, cfg), now=now())
    return {k: str(v) for k, v in paths.items()}


def _serve_http(args, cfg):
    from appliance.pki.httppublish import parse_listen, serve
    from appliance.pki.store import CaStore

    addresses = [parse_listen(text, allow_wildcard=args.listen_on_all) for text in args.listen]
    directory = args.dir or CaStore.appliance(Path(settings(cfg)["dir"])).public_dir
    if not directory.is_dir():
        # Not an error: before first boot, or with the data volume locked, every file is a clear 404.
        log.warning("%s does not exist (yet): every file is answered 404 until the CA publishes there", directory)
    serve(directory, addresses)


# -- helpers -------------------------------------------------------------------------------------


def _store(args, cfg):
    from appliance.pki.store import CaStore

    if getattr(args, "root_dir", None):
        return CaStore.root(args.root_dir)
    return CaStore.appliance(Path(args.pki_dir or settings(cfg)["dir"]))


def _passphrase(args) -> bytes | None:
    path = getattr(args, "passphrase_file", None)
    return path.read_bytes().rstrip(b"\r\n") if path else None


def _crl_url(args, cfg) -> str | None:
    return getattr(args, "crl_url", None) or settings(cfg)["crl_url"] or None


def _cert_dir(args, cfg) -> Path:
    return Path(getattr(args, "cert_dir", None) or cfg["freeswitch"]["cert_dir"])


def _extra_ca(cfg) -> list[Path]:
    return [Path(p) for p in settings(cfg)["freeswitch_extra_ca"]]


def _export_after(args, cfg, store, records) -> dict[str, str] | None:
    """Refresh FreeSWITCH's files when a sip certificate was just issued or renewed."""
    from appliance.pki.errors import PkiError
    from appliance.pki.freeswitch import export_freeswitch

    sip = [r for r in records if r.profile == "sip"]
    if not sip or getattr(args, "no_export", False) or store.kind != "intermediate":
        return None
    try:
        paths = export_freeswitch(_cert_dir(args, cfg), store, sip[-1].serial, extra_ca=_extra_ca(cfg), now=now())
    except OSError as exc:
        raise PkiError(
            f"certificate {sip[-1].serial} is issued, but FreeSWITCH's files could not be written ({exc}); "
            "fix that and run `appliance pki export-freeswitch`"
        ) from None
    return {k: str(v) for k, v in paths.items()}


def _raise_failures(done) -> None:
    from appliance.pki.errors import PkiError

    if done.failed:
        renewed = ", ".join(f"{old.serial} as {new.serial}" for old, new in done.renewed) or "nothing"
        failed = "; ".join(f"{serial}: {why}" for serial, why in done.failed)
        raise PkiError(f"renewed {renewed}; could not renew {failed}")


def _ca_summary(cert) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes

    return {
        "subject": cert.subject.rfc4514_string(),
        "serial": f"{cert.serial_number:X}",
        "not_after": cert.not_valid_after_utc,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    }


def _record_row(record, state: str | None = None) -> dict[str, Any]:
    from appliance.pki import renewal

    return {
        "serial": record.serial,
        "profile": record.profile,
        "subject": record.subject,
        "names": record.names,
        "not_after": record.not_after,
        "status": state or renewal.status(record, now()),
        "revoked_at": record.revoked_at,
    }


def _issued_row(record, store) -> dict[str, Any]:
    return _record_row(record) | {
        "cert": str(store.issued_path(record.serial)),
        "key": str(store.private_key_path(record.serial)) if record.key_held else None,
    }


def _refused(obj: str, field: str, message: str):
    from appliance.model.validate import Problem, ValidationFailed

    return ValidationFailed([Problem(obj, field, message)])


def _refuse_names(handler: Handler) -> Handler:
    """Report names outside the constraints like other refused changes: one problem per name."""

    def run(args, cfg):
        from appliance.model.validate import Problem, ValidationFailed
        from appliance.pki.errors import NameNotPermitted

        try:
            return handler(args, cfg)
        except NameNotPermitted as exc:
            profile = getattr(args, "profile", None)
            problems = [
                Problem(
                    f"{profile} certificate" if profile else "certificate",
                    "name",
                    f"{name!r} is outside the intermediate's name constraints ({exc.constraints})",
                )
                for name in exc.names
            ]
            raise ValidationFailed(problems) from None

    return run


# -- options -------------------------------------------------------------------------------------


def add_commands(sub, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the `appliance pki` actions to sub; cmd(sub, name, handler, help) makes one (appliance.cli._cmd)."""
    from appliance.pki.profiles import INTERMEDIATE_DAYS, PROFILES, ROOT_DAYS

    reasons = ["keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"]

    p = cmd(sub, "init-root", _init_root, "create the fleet root CA (on the hub or the integrator's machine)")
    _root_dir(p, required=True)
    p.add_argument("--cn", required=True, help="the root's common name, e.g. 'Example Telecom Fleet Root CA'")
    p.add_argument("--days", type=int, default=ROOT_DAYS, help=f"lifetime (default {ROOT_DAYS})")
    _passphrase_option(p, "encrypt root.key with the passphrase in this file")

    p = cmd(sub, "create-intermediate-request", _request, "make this appliance's CA key and a request for the hub")
    _pki_dir(p)
    p.add_argument("--cn", help="the intermediate's common name (default: '<fqdn> appliance CA')")
    p.add_argument("--replace", action="store_true", help="replace a request still waiting to be signed")

    p = cmd(sub, "sign-intermediate", _sign_intermediate, "sign an appliance's request with the root")
    p.add_argument("csr", type=Path, help="the appliance's intermediate.csr")
    _root_dir(p, required=True)
    p.add_argument("--dns", action="append", required=True, help="DNS name it may issue for, and below (repeatable)")
    p.add_argument("--ip", action="append", help="IP address or network it may issue for (repeatable)")
    p.add_argument("--days", type=int, default=INTERMEDIATE_DAYS, help=f"lifetime (default {INTERMEDIATE_DAYS})")
    p.add_argument("--out", type=Path, help="where to write the certificate (default: the request's name, .pem)")
    p.add_argument("--crl-url", help="where the root's CRL is published (CRL distribution point)")
    _passphrase_option(p, "the passphrase of root.key")

    p = cmd(sub, "install-intermediate", _install, "install the intermediate the hub signed; publish its CRL")
    p.add_argument("cert", type=Path, help="the signed intermediate certificate (PEM)")
    p.add_argument("--root", type=Path, help="the fleet root certificate (needed the first time)")
    _pki_dir(p)
    _export_options(p)

    p = cmd(sub, "issue", _refuse_names(_issue), "issue a certificate from this appliance's intermediate")
    p.add_argument("--profile", choices=list(PROFILES), required=True, help="console | sip | phone")
    p.add_argument("--name", action="append", required=True, help="DNS name or IP address (repeatable)")
    p.add_argument("--days", type=int, help="lifetime (default and maximum: 30 days, phones 365)")
    p.add_argument("--csr", type=Path, help="certify the key of this request (a phone's) instead of making one")
    p.add_argument("--crl-url", help="CRL distribution point (default: pki.crl_url)")
    _pki_dir(p)
    _export_options(p)

    p = cmd(sub, "list", _list, "list certificates (valid and due; --all for history)")
    p.add_argument("--all", action="store_true", help="include expired, renewed and revoked certificates")
    _pki_dir(p)
    _root_dir(p, help_text="list the intermediates the root signed")

    p = cmd(sub, "renew", _refuse_names(_renew), "renew certificates (new key, same names); refresh a stale CRL")
    p.add_argument("serial", nargs="*", help="serials to renew now")
    p.add_argument("--all-due", action="store_true", help="renew every certificate past 2/3 of its life")
    p.add_argument("--crl-url", help="CRL distribution point (default: pki.crl_url)")
    _pki_dir(p)
    _export_options(p)

    p = cmd(sub, "revoke", _revoke, "revoke a certificate by serial and publish the CRL")
    p.add_argument("serial")
    p.add_argument("--reason", choices=reasons)
    _pki_dir(p)
    _root_dir(p, help_text="revoke an intermediate the root signed")
    _passphrase_option(p, "the passphrase of root.key (with --root-dir)")

    p = cmd(sub, "crl", _crl, "sign and publish a fresh CRL")
    p.add_argument("--days", type=int, help="validity (default 7 days; the root's 30)")
    _pki_dir(p)
    _root_dir(p, help_text="publish the root's CRL of intermediates")
    _passphrase_option(p, "the passphrase of root.key (with --root-dir)")

    p = cmd(sub, "export-freeswitch", _export, "write agent.pem and cafile.pem into FreeSWITCH's tls-cert-dir")
    p.add_argument("--serial", help="which sip certificate (default: the newest valid one)")
    _pki_dir(p)
    p.add_argument("--cert-dir", type=Path, help="FreeSWITCH's tls-cert-dir (default: freeswitch.cert_dir)")

    p = cmd(sub, "export-console", _export_console, "copy the console's certificate chain and key into its folder")
    _pki_dir(p)
    p.add_argument("--dir", type=Path, required=True, help="the console's folder (its unit's runtime directory)")

    p = cmd(sub, "serve-http", _serve_http, "publish the CA's public files over plain HTTP (/pki/<name>) until SIGTERM")
    p.add_argument(
        "--listen",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="an IP address and port, [brackets] around IPv6; repeatable (LAN, tunnel), never a wildcard",
    )
    p.add_argument("--dir", type=Path, help="the folder to publish (default: public/ of pki.dir; the hub: its root's)")
    p.add_argument(
        "--listen-on-all",
        action="store_true",
        help="accept a wildcard --listen (a flashed image, which cannot know its LAN address; the firewall keeps "
        "the port off the WAN, docs/decisions.md 19)",
    )


def _pki_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pki-dir", type=Path, help=f"this appliance's CA directory (default: pki.dir, {CONFIG_DEFAULTS['dir']})"
    )


def _root_dir(
    p: argparse.ArgumentParser, required: bool = False, help_text: str = "the fleet root's directory"
) -> None:
    p.add_argument("--root-dir", type=Path, required=required, help=help_text)


def _passphrase_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--passphrase-file", type=Path, help=help_text)


def _export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert-dir", type=Path, help="FreeSWITCH's tls-cert-dir (default: freeswitch.cert_dir)")
    p.add_argument("--no-export", action="store_true", help="do not refresh FreeSWITCH's agent.pem/cafile.pem")
