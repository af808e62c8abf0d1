# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance console ...`: the first admin, more users, API tokens, and the HTTPS server.

Only the parser is built on every `appliance` run; Flask and argon2 load when a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.console.settings import settings
from appliance.model.validate import Problem, ValidationFailed

Handler = Callable[[argparse.Namespace, dict[str, Any]], Any]


def _password(path: Path) -> str:
    """Read a password from a file (first line); never from the command line, where ps would show it."""
    text = path.read_text(encoding="utf-8").splitlines()
    if not text or not text[0]:
        raise ValidationFailed([Problem("console user", "password", f"{path} holds no password on its first line")])
    return text[0]


def _connect(cfg: dict[str, Any]):
    from appliance.store.db import connect

    return connect(cfg["database"]["dsn"], autocommit=True)


def _hasher():
    from appliance.console import passwords

    return passwords.hasher()


def _create_admin(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    from appliance.console import users

    password = _password(args.password_file)
    with _connect(cfg) as conn:
        existing = users.by_name(conn, args.username)
        if existing is not None and not args.reset:
            raise ValidationFailed(
                [Problem(f"console user {args.username}", "username", "already exists (--reset to set a new password)")]
            )
        if existing is not None:
            from appliance.console import passwords

            if why := passwords.weakness(password, username=args.username):
                raise ValidationFailed([Problem(f"console user {args.username}", "password", why)])
            users.set_password(conn, _hasher(), existing, password, actor="cli", must_change=True)
            return {"reset": args.username, "must_change_password": True}
        users.create(conn, _hasher(), args.username, password, "admin", actor="cli", must_change=True)
    return {"created": args.username, "role": "admin", "must_change_password": True}


def _create_user(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    from appliance.console import users

    with _connect(cfg) as conn:
        users.create(conn, _hasher(), args.username, _password(args.password_file), args.role, actor="cli")
    return {"created": args.username, "role": args.role, "must_change_password": True}


def _create_token(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    from appliance.console import tokens

    scopes = sorted(set(args.scope or ["read"]))
    with _connect(cfg) as conn:
        token = tokens.create(conn, args.name, scopes, actor="cli")
    return {"name": args.name, "scopes": scopes, "token": token}


def _revoke_token(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    from appliance.console import tokens

    with _connect(cfg) as conn:
        tokens.revoke(conn, args.name, actor="cli")
    return {"revoked": args.name}


def _serve(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    from appliance.console import create_app
    from appliance.console.serve import pki_files, serve_forever

    console = settings(cfg)
    cert, key = args.cert or console["cert"], args.key or console["key"]
    if bool(cert) != bool(key):
        raise ValidationFailed([Problem("console", "cert", "give both --cert and --key, or neither (use the CA's)")])

    def files() -> tuple[Path, Path]:
        # Asked again on SIGHUP: in CA mode that picks up a renewed certificate.
        return (Path(cert), Path(key)) if cert else pki_files(Path(cfg["pki"]["dir"]))

    binds = args.bind or console["bind"]
    hosts = [binds] if isinstance(binds, str) else [str(h) for h in binds]
    serve_forever(create_app(), hosts, args.port or int(console["port"]), files)


def add_commands(sub, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `appliance console ...` to the parser."""
    a = cmd(sub, "create-admin", _create_admin, "create the first admin from the first-boot password (forced change)")
    a.add_argument("--password-file", type=Path, required=True, help="file whose first line is the password")
    a.add_argument("--username", default="admin")
    a.add_argument("--reset", action="store_true", help="set a new password for an existing admin (forced change)")

    u = cmd(sub, "create-user", _create_user, "create a console user (must change the password at first sign-in)")
    u.add_argument("username")
    u.add_argument("--role", choices=["admin", "readonly"], required=True)
    u.add_argument("--password-file", type=Path, required=True, help="file whose first line is the password")

    t = cmd(sub, "create-token", _create_token, "create an API token and print it (only this once)")
    t.add_argument("name")
    t.add_argument("--scope", action="append", choices=["read", "write"], help="repeatable; default: read")

    cmd(sub, "revoke-token", _revoke_token, "revoke an API token").add_argument("name")

    s = cmd(sub, "serve", _serve, "serve the console and API over HTTPS")
    s.add_argument(
        "--bind", action="append", help="address to listen on, repeatable (default: console.bind, 127.0.0.1)"
    )
    s.add_argument("--port", type=int, help="port (default: console.port, 8443)")
    s.add_argument("--cert", help="certificate chain, PEM (default: console.cert, else the CA's console certificate)")
    s.add_argument("--key", help="its private key, PEM (default: console.key)")
