# SPDX-License-Identifier: GPL-3.0-or-later
"""FreeSWITCH's survival configuration: what lets phones call each other while the data volume stays locked.

A copy of the last good rendered configuration, kept on the root filesystem, with what must not lie
there unencrypted taken out (docs/decisions.md, "Degraded boot"): phones' passwords become digest
hashes (a1-hash, usable only for this SIP domain), voicemail PINs, the carrier trunk and its credentials
and SIP-TLS (its key is on the volume) are removed, and the event-socket password is replaced by a
new random one (no daemon runs in survival). Database locations are dropped: the survival FreeSWITCH keeps
them in its own db directory, in RAM, whatever the normal one uses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from pathlib import Path

from lxml import etree

log = logging.getLogger(__name__)

CONF = "conf"
MARKER = "SURVIVAL"
# Where the normal FreeSWITCH keeps its databases (fsconf.render.Runtime.volatile_db_dir).
DB_LOCATIONS = ("odbc-dsn", "core-db-dsn", "core-db-name")


def a1_hash(user: str, domain: str, password: str) -> str:
    """Return the SIP digest's HA1, md5(user:realm:password), which FreeSWITCH accepts as param a1-hash."""
    return hashlib.md5(f"{user}:{domain}:{password}".encode()).hexdigest()  # the SIP digest is MD5 by definition


def _parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(remove_blank_text=False, resolve_entities=False))


def _write(tree: etree._ElementTree, path: Path) -> None:
    """Write tree with every top-level comment on lines of its own.

    lxml joins a leading comment and the root's start tag on one line, and FreeSWITCH's preprocessor
    drops the `<include>` line of an included file whole: the comment's end went with it, and the
    survival FreeSWITCH refused to start ("unclosed <!--").
    """
    root = tree.getroot()
    before = list(reversed(list(root.itersiblings(preceding=True))))
    parts = [etree.tostring(node, encoding="utf-8", with_tail=False) for node in before]
    parts.append(etree.tostring(root, encoding="utf-8", with_tail=False))
    path.write_bytes(b"\n".join(parts) + b"\n")


def _domain(conf: Path) -> str:
    domain = _parse(conf / "directory" / "default.xml").find(".//domain")
    if domain is None or not domain.get("name"):
        raise ValueError(f"{conf}/directory/default.xml: no <domain name=...>")
    return domain.get("name", "")


def _hash_users(conf: Path) -> int:
    """Replace every user's password with its a1-hash and drop voicemail PINs; return how many users."""
    domain = _domain(conf)
    count = 0
    for path in sorted((conf / "directory" / "default").glob("*.xml")):
        tree = _parse(path)
        for user in tree.iter("user"):
            for param in user.iter("param"):
                if param.get("name") == "password":
                    param.set("name", "a1-hash")
                    param.set("value", a1_hash(user.get("id", ""), domain, param.get("value", "")))
                    count += 1
                elif param.get("name") == "vm-password":
                    param.getparent().remove(param)
        _write(tree, path)
    return count


def _drop_trunks(conf: Path) -> None:
    """Remove the external profile and its gateways (the carrier's credentials)."""
    (conf / "sip_profiles" / "external.xml").unlink(missing_ok=True)
    shutil.rmtree(conf / "sip_profiles" / "external", ignore_errors=True)


def _drop_db_locations(tree: etree._ElementTree) -> None:
    for param in [p for p in tree.iter("param") if p.get("name") in DB_LOCATIONS]:
        param.getparent().remove(param)


def _profiles(conf: Path, domain: str) -> None:
    """Turn SIP-TLS off (its key is on the volume), challenge in the domain's realm (a1-hash is per realm)
    and drop the database location (the normal FreeSWITCH's RAM directory is not there in survival)."""
    for path in (conf / "sip_profiles").glob("*.xml"):
        tree = _parse(path)
        _drop_db_locations(tree)
        for param in tree.iter("param"):
            if param.get("name") in ("tls", "tls-only"):
                param.set("value", "false")
            elif param.get("name") == "challenge-realm":
                # auto_from would challenge in whatever host a phone puts in From (an IP address, say),
                # and a hash made for the domain would never match it
                param.set("value", domain)
        _write(tree, path)


def _drop_core_db_location(conf: Path) -> None:
    """Let the survival FreeSWITCH keep its core database in its own db directory, like the profiles'."""
    path = conf / "autoload_configs" / "switch.conf.xml"
    if not path.exists():
        return
    tree = _parse(path)
    _drop_db_locations(tree)
    _write(tree, path)


def _new_esl_password(conf: Path) -> None:
    path = conf / "autoload_configs" / "event_socket.conf.xml"
    if not path.exists():
        return
    tree = _parse(path)
    for param in tree.iter("param"):
        if param.get("name") == "password":
            param.set("value", secrets.token_urlsafe(24))
    _write(tree, path)


def refresh(current: Path, survival_dir: Path, group: str | None = "freeswitch") -> Path:
    """Make survival_dir/conf from the configuration in `current` (swapped in whole); return it."""
    if not (current / "freeswitch.xml").exists():
        raise FileNotFoundError(f"{current}/freeswitch.xml: no rendered configuration to keep for survival")
    survival_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(survival_dir, 0o750)
    staging = survival_dir / f".{CONF}.new"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(current.resolve(), staging, symlinks=False)
    users = _hash_users(staging)
    _drop_trunks(staging)
    _profiles(staging, _domain(staging))
    _drop_core_db_location(staging)
    _new_esl_password(staging)
    (staging / MARKER).write_text("survival configuration: see docs/storage.md\n", encoding="utf-8")
    for root, dirs, files in os.walk(staging):
        for name in dirs:
            os.chmod(Path(root) / name, 0o750)
        for name in files:
            os.chmod(Path(root) / name, 0o640)
    if group:
        try:
            shutil.chown(survival_dir, group=group)
            for root, _dirs, files in os.walk(staging):
                shutil.chown(root, group=group)
                for name in files:
                    shutil.chown(Path(root) / name, group=group)
        except (LookupError, PermissionError) as exc:
            log.warning("survival configuration left without group %s: %s", group, exc)
    target = survival_dir / CONF
    old = survival_dir / f".{CONF}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    log.info("survival configuration refreshed in %s (%d users, passwords hashed)", target, users)
    return target


def secrets_left(conf: Path) -> list[str]:
    """Return where a plaintext secret is still found in a survival configuration (for the tests and status)."""
    found = []
    for path in conf.rglob("*.xml"):
        for param in _parse(path).iter("param"):
            name = param.get("name", "")
            if name in ("password", "vm-password") and "event_socket" not in path.name:
                found.append(f"{path.relative_to(conf)}: {name}")
    return found
