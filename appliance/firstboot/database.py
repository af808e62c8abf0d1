# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL at first boot: create the cluster on the data volume, the role and database, migrate.

The postgresql role installs Debian's server without a cluster and tells pg_createcluster (in
/etc/postgresql-common/createcluster.conf) to put clusters on the data volume and include the
appliance's settings. postgresql@.service is ordered after first boot, so first boot runs the
cluster itself for a moment (`pg_ctlcluster --skip-systemctl-redirect`), outside systemd, and
stops it again before systemd starts it for good.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.firstboot import system

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def identifier(name: str) -> str:
    """Return name if it is a plain lower-case SQL identifier (so it can be written into SQL), else refuse."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain PostgreSQL identifier (a-z, 0-9, _)")
    return name


def cluster_config(version: str, cluster: str, etc: Path = Path("/etc/postgresql")) -> Path:
    """Return the cluster's postgresql.conf path."""
    return etc / version / cluster / "postgresql.conf"


def ensure_cluster(version: str, cluster: str) -> None:
    """Create the cluster (data directory from createcluster.conf) unless it exists."""
    if cluster_config(version, cluster).exists():
        log.info("PostgreSQL cluster %s/%s exists", version, cluster)
        return
    system.run(["pg_createcluster", version, cluster])


def is_running(version: str, cluster: str) -> bool:
    """Return whether the cluster's server is running."""
    lines = system.output(["pg_lsclusters", "--no-header"]).splitlines()
    return any(line.split()[:2] == [version, cluster] and "online" in line.split()[3] for line in lines if line.strip())


@contextlib.contextmanager
def running(version: str, cluster: str) -> Iterator[None]:
    """Run the cluster for the duration of the block, outside systemd, unless it runs already."""
    started = False
    if not is_running(version, cluster):
        system.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"])
        started = True
    try:
        yield
    finally:
        if started:
            system.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "stop"], check=False)


def start_when_first_boot_ends(version: str, cluster: str) -> None:
    """Queue the cluster's systemd start; the job waits for first boot to end (its unit is ordered after)."""
    # postgresql's generator wants only the clusters it saw when this boot began: this one did not exist,
    # so nothing else would start it until the next boot (the security boot test found it stopped).
    unit = f"postgresql@{version}-{cluster}.service"
    proc = system.run(["systemctl", "start", "--no-block", unit], check=False)
    if proc.returncode != 0:
        log.warning("could not queue %s: %s", unit, proc.stderr.strip())


def psql(sql: str, port: str | None = None) -> str:
    """Run one SQL statement as the postgres superuser over the unix socket; return its output."""
    args = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    if port:
        args += ["-p", port]
    return system.output([*args, "-c", sql])


def ensure_role_and_database(database: str, owner: str) -> None:
    """Create the login role and its database unless they exist."""
    database, owner = identifier(database), identifier(owner)
    if psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'") != "1":
        psql(f"CREATE ROLE {owner} LOGIN")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'") != "1":
        psql(f"CREATE DATABASE {database} OWNER {owner}")


def seed_site(dsn: str, wanted: dict[str, Any], address: str | None) -> dict[str, Any]:
    """Apply first boot's site settings and, while still at the defaults, this box's address; return the changes."""
    from appliance.model import Site
    from appliance.store.db import connect
    from appliance.store.repo import Store, load_snapshot

    defaults = Site()
    with connect(dsn, autocommit=True) as conn:
        site = load_snapshot(conn).site
        changes = {k: v for k, v in wanted.items() if getattr(site, k, None) != v}
        if address:
            # Phones must reach the profiles on the LAN address, not the loopback default.
            for key in ("lan_ip", "trunk_ip"):
                if key not in wanted and getattr(site, key) == getattr(defaults, key):
                    changes[key] = address
        if changes:
            Store(conn, actor="console").update_site(**changes)
    return changes


def migrate(dsn: str) -> list[str]:
    """Apply the pending migrations; return their names."""
    from appliance.store.db import connect
    from appliance.store.migrate import migrate as apply_migrations

    with connect(dsn, autocommit=True) as conn:
        applied = apply_migrations(conn)
    log.info("migrations applied: %s", applied or "none (up to date)")
    return applied


def render(cfg: dict[str, Any]) -> dict[str, str]:
    """Render, check and swap in FreeSWITCH's configuration from the database (FreeSWITCH is not running)."""
    from appliance.fsconf import service
    from appliance.store.db import connect
    from appliance.store.repo import load_snapshot

    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        snapshot = load_snapshot(conn)
    return service.apply(cfg, snapshot, reload=False)


def create_console_admin(password_file: Path, username: str = "admin") -> bool:
    """Create the web console's first admin from first boot's password (forced change); return whether made."""
    # The console (appliance.console) owns its users; first boot only hands over the password file.
    import importlib.util
    import sys

    if importlib.util.find_spec("appliance.console") is None:
        log.info("no web console in this build: the admin password waits in %s", password_file)
        return False
    args = [sys.executable, "-m", "appliance", "console", "create-admin", "--username", username]
    result = system.run([*args, "--password-file", str(password_file)], check=False)
    if result.returncode == 0:
        return True
    if "already exists" in result.stderr:
        log.info("console user %s exists already", username)
        return False
    raise system.CommandFailed(f"appliance console create-admin: {result.stderr.strip() or result.stdout.strip()}")
