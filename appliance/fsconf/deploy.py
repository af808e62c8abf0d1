# SPDX-License-Identifier: GPL-3.0-or-later
"""Deploy a rendered configuration atomically, reload FreeSWITCH, roll back when it refuses.

Layout under `root` (FreeSWITCH runs with `-conf root/current`):

    root/releases/<UTC timestamp>-<content hash>/   one complete tree per deploy
    root/current -> releases/<name>                 the tree FreeSWITCH reads

A release is rendered into a hidden temporary directory, checked, flushed to disk and
renamed into place; only then is `current` swapped, by renaming a new symlink over it.
A crash at any point leaves `current` on a complete tree, old or new.

Reloading (through `reload`, a callable that sends one ESL `api` command and returns the
reply) never drops a call for directory, dialplan or gateway changes. A change to a SIP
profile's own file restarts that profile, which drops the calls on it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from appliance.files import fsync_dir, fsync_file
from appliance.fsconf.check import check
from appliance.fsconf.render import DIR_MODE, Runtime, render
from appliance.model import Snapshot

log = logging.getLogger(__name__)

KEEP_RELEASES = 5
# Rewritten after every swap of `current`: what watchers of new configurations watch.
APPLIED_STAMP = "applied"
PROFILES = ("internal", "external")
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_NAME_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-(?P<digest>[0-9a-f]+)$")
# reloadxml always answers "+OK [<message>]"; the message is "Success" only when the new
# document was parsed and installed, otherwise it is the parser's error.
_RELOADXML_RE = re.compile(r"^\+OK(?:\s*\[(?P<message>.*)\])?\s*$", re.DOTALL)
# What mod_sofia answers when a profile command worked (it never says -ERR for some failures).
_SOFIA_OK = {"rescan": "+OK scan complete", "restart": "restarting:", "start": "started successfully"}
_RESTART_WAIT_RE = re.compile(r"must be up for at least \d+ seconds.*Please wait (?P<seconds>\d+) second", re.DOTALL)
# Files read only at start-up or module load: a change waits for a FreeSWITCH restart.
_RESTART_FILES = (
    "autoload_configs/modules.conf.xml",
    "autoload_configs/switch.conf.xml",
    "autoload_configs/event_socket.conf.xml",
    "autoload_configs/sofia.conf.xml",
    "autoload_configs/console.conf.xml",
    "autoload_configs/logfile.conf.xml",
    "autoload_configs/opus.conf.xml",
    "autoload_configs/json_cdr.conf.xml",
    "vars.xml",
)

Reload = Callable[[str], str]


@dataclass(frozen=True)
class Release:
    """One complete configuration tree under root/releases."""

    name: str
    path: Path


class DeployError(RuntimeError):
    """FreeSWITCH refused a release, or a release could not be activated; the message says what runs now."""


def deploy(
    snapshot: Snapshot,
    runtime: Runtime,
    root: Path,
    reload: Reload | None = None,
    templates: Path | None = None,
) -> Release:
    """Render, check and atomically activate a new release; reload FreeSWITCH when reload is given."""
    root = Path(root)
    releases = root / "releases"
    releases.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with _locked(root):
        tmp = releases / f".tmp-{secrets.token_hex(6)}"
        try:
            render(snapshot, runtime, tmp, templates)
            check(tmp)  # a tree that fails the check is never pointed at
            _fsync_tree(tmp)
            path = releases / _release_name(releases, _content_hash(tmp))
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(releases)
        release = Release(path.name, path)
        previous = current_release(root)
        _point_current(root, release)
        log.info("release %s is current (previous: %s)", release.name, previous.name if previous else "none")
        if reload is not None:
            _activate(root, reload, previous, release, discard_refused=True)
        _prune(root)
        return release


def current_release(root: Path) -> Release | None:
    """Return the release root/current points at, or None before the first deploy."""
    link = Path(root) / "current"
    if not link.is_symlink():
        return None
    path = (link.parent / os.readlink(link)).resolve()
    return Release(path.name, path)


def list_releases(root: Path) -> list[Release]:
    """Return every complete release under root, oldest first."""
    releases = Path(root) / "releases"
    if not releases.is_dir():
        return []
    found = [p for p in releases.iterdir() if p.is_dir() and _NAME_RE.match(p.name)]
    return [Release(p.name, p.resolve()) for p in sorted(found, key=lambda p: p.name)]


def rollback(root: Path, reload: Reload | None = None) -> Release:
    """Point root/current at the release before the current one; reload FreeSWITCH when reload is given."""
    root = Path(root)
    if current_release(root) is None:
        raise DeployError(f"{root}: nothing to roll back, no release is current")
    with _locked(root):
        current = current_release(root)
        if current is None:
            raise DeployError(f"{root}: nothing to roll back, no release is current")
        older = [r for r in list_releases(root) if r.name < current.name]
        if not older:
            raise DeployError(f"{root}: release {current.name} is the oldest kept; nothing to roll back to")
        target = older[-1]
        _point_current(root, target)
        log.warning("rolled back from release %s to %s", current.name, target.name)
        if reload is not None:
            _activate(root, reload, current, target, discard_refused=False)
        return target


def _activate(root: Path, reload: Reload, previous: Release | None, release: Release, *, discard_refused: bool) -> None:
    """Make FreeSWITCH load release; on refusal point current back at previous and raise."""
    try:
        reply = reload("reloadxml")
    except Exception as exc:
        _restore(root, reload, previous, release, discard_refused)
        raise DeployError(
            f"could not reach FreeSWITCH to load release {release.name} ({exc}); {_still_running(previous)}"
        ) from exc
    if not _reloadxml_ok(reply):
        restored = _restore(root, reload, previous, release, discard_refused)
        raise DeployError(
            f"FreeSWITCH refused the configuration of release {release.name}: {reply.strip()}; "
            + (_still_running(previous) if restored else "and reloading the previous release failed as well")
        )
    log.info("FreeSWITCH loaded release %s", release.name)
    failures = [f"{cmd!r} answered {answer.strip()!r}" for cmd, answer in _apply_sip_changes(reload, previous, release)]
    if failures:
        raise DeployError(f"release {release.name} is loaded, but " + "; ".join(failures))


def _restore(root: Path, reload: Reload, previous: Release | None, refused: Release, discard: bool) -> bool:
    """Point current back at previous and reload it; return whether FreeSWITCH accepted it."""
    accepted = True
    if previous is not None and previous.path.is_dir():
        _point_current(root, previous)
        try:
            accepted = _reloadxml_ok(reload("reloadxml"))
        except Exception:
            log.exception("reloading the previous release %s failed", previous.name)
            accepted = False
    else:
        (root / "current").unlink(missing_ok=True)
        fsync_dir(root)
    if discard:
        shutil.rmtree(refused.path, ignore_errors=True)
    return accepted


def _still_running(previous: Release | None) -> str:
    if previous is None:
        return "no previous release exists, so FreeSWITCH keeps whatever configuration it had loaded"
    return f"the previous release {previous.name} is still running"


def _apply_sip_changes(reload: Reload, previous: Release | None, release: Release) -> Iterator[tuple[str, str]]:
    """Send the sofia commands the change needs; yield (command, reply) for each that failed."""
    old = previous.path if previous is not None and previous.path.is_dir() else None
    if old is not None and _differs(old, release.path, "autoload_configs/acl.conf.xml"):
        # reloadxml does not rebuild ACLs; reloadacl does (the trunks list follows the trunks).
        reply = reload("reloadacl")
        if not reply.strip().startswith("+OK"):
            yield "reloadacl", reply
    restart = [p for p in PROFILES if old is None or _differs(old, release.path, f"sip_profiles/{p}.xml")]
    if "external" not in restart and old is not None:
        before, after = _gateways(old), _gateways(release.path)
        for name in sorted(before):
            if after.get(name) != before[name]:
                # A rescan only adds gateways: a removed or changed one must go first.
                _send(reload, f"sofia profile external killgw {name}")
    for profile in PROFILES:
        command, reply = _sofia_profile(reload, profile, "restart" if profile in restart else "rescan")
        if _SOFIA_OK[command.split()[-1]] not in reply:
            yield command, reply
    for rel in _RESTART_FILES:
        if old is not None and _differs(old, release.path, rel):
            log.warning("%s changed: it takes effect when FreeSWITCH restarts", rel)


def _sofia_profile(reload: Reload, profile: str, action: str) -> tuple[str, str]:
    """Rescan or restart a profile, starting it if it is not running; return (command, reply)."""
    command = f"sofia profile {profile} {action}"
    reply = _send(reload, command)
    if action == "restart" and (wait := _RESTART_WAIT_RE.search(reply)):
        # mod_sofia refuses to restart a profile that started less than 10 seconds ago.
        time.sleep(int(wait["seconds"]) + 1)
        reply = _send(reload, command)
    if "Invalid Profile" in reply:
        # Not running (it failed to bind earlier, or was stopped): start it from the new files.
        command = f"sofia profile {profile} start"
        reply = _send(reload, command)
    return command, reply


def _send(reload: Reload, command: str) -> str:
    reply = reload(command)
    log.info("ESL %s -> %s", command, reply.strip())
    return reply


def _reloadxml_ok(reply: str) -> bool:
    match = _RELOADXML_RE.match(reply.strip())
    return bool(match) and match["message"] in (None, "Success")


def _gateways(tree: Path) -> dict[str, bytes]:
    """Return each gateway of the external profile by name, in canonical form."""
    found: dict[str, bytes] = {}
    for path in sorted((tree / "sip_profiles" / "external").glob("*.xml")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        for gateway in root.iter("gateway"):
            found[gateway.get("name", "")] = etree.tostring(gateway, method="c14n")
    return found


def _differs(old: Path, new: Path, rel: str) -> bool:
    a, b = old / rel, new / rel
    return a.is_file() != b.is_file() or (a.is_file() and a.read_bytes() != b.read_bytes())


def _point_current(root: Path, release: Release) -> None:
    """Swap root/current to release atomically: a new symlink renamed over the old one."""
    tmp = root / f".current-{secrets.token_hex(6)}"
    os.symlink(os.path.relpath(release.path, root), tmp)
    try:
        os.replace(tmp, root / "current")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(root)
    # Written in place, after the swap, for watchers: systemd's PathChanged= follows the `current` symlink
    # to the old release and never sees the rename, but sees this file closed after writing (the
    # survival copy of cryptstore is refreshed on it).
    fd = os.open(root / APPLIED_STAMP, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as stamp:
        if os.geteuid() == 0:  # root's apply must not leave a file the service user's next apply cannot write
            st = root.stat()
            os.fchown(stamp.fileno(), st.st_uid, st.st_gid)
        stamp.write(release.name + "\n")


def _prune(root: Path) -> None:
    """Delete all but the newest KEEP_RELEASES releases, never the current one."""
    current = current_release(root)
    releases = list_releases(root)
    for release in releases[:-KEEP_RELEASES]:
        if current is not None and release.path == current.path:
            continue
        log.info("pruning release %s", release.name)
        shutil.rmtree(release.path)


def _release_name(releases: Path, digest: str) -> str:
    now = datetime.now(UTC)
    stamps = [m["stamp"] for p in releases.iterdir() if (m := _NAME_RE.match(p.name))]
    if stamps:
        # The clock can go backwards (a Raspberry Pi has no RTC before NTP syncs):
        # names must still sort in deploy order, since pruning and rollback rely on it.
        latest = datetime.strptime(max(stamps), _STAMP).replace(tzinfo=UTC)
        if now <= latest:
            log.warning("clock is behind the newest release %s; naming the new one after it", max(stamps))
            now = latest + timedelta(microseconds=1)
    return f"{now.strftime(_STAMP)}-{digest}"


def _content_hash(tree: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        digest.update(path.relative_to(tree).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def _fsync_tree(tree: Path) -> None:
    for directory, _dirs, files in os.walk(tree, topdown=False):
        for name in files:
            fsync_file(Path(directory) / name)
        fsync_dir(Path(directory))


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise deploys and rollbacks on one root (the console and Ansible may both deploy)."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
