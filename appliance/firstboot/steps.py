# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot's steps, in order, and the end: markers, the console's issue text, the ready lines.

The order differs from the issue's list on purpose: the host name comes early (certificates and
SSH key comments carry it), and SSH host keys and the admin password are made before the data
volume, so a box whose storage step fails can still be reached and looked at.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import secrets
from appliance.console.settings import settings as console_settings
from appliance.firstboot import ca, database, disk, enrol, hostname, identity, report, runner, storage, volume
from appliance.firstboot.settings import Settings

log = logging.getLogger(__name__)

DONE_NAME = ".firstboot-done"


@dataclass
class FirstBoot:
    """Everything the steps share: the settings and the appliance's layered configuration."""

    settings: Settings
    cfg: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)

    # -- the steps ------------------------------------------------------------------------------

    def steps(self) -> list[runner.Step]:
        """Return the steps in the order they run."""
        return [
            runner.Step("disk", self.disk, "grow the root filesystem, create the data partition"),
            runner.Step("hostname", self.hostname, "host name from the board serial or MAC"),
            runner.Step("ssh-host-keys", self.ssh_host_keys, "this box's SSH host keys"),
            runner.Step("admin-password", self.admin_password, "the console admin password"),
            runner.Step("data-volume", self.data_volume, "LUKS2 data volume, unlocked at boot, mounted"),
            runner.Step("secrets", self.secrets, "event-socket password, the console's session signing key"),
            runner.Step("ca", self.ca, "the appliance's CA and TLS certificates"),
            runner.Step("wireguard", self.wireguard, "WireGuard private key"),
            runner.Step("database", self.database, "PostgreSQL cluster, migrations, site, FreeSWITCH configuration"),
            runner.Step("enrol", self.enrol, "enrolment with the fleet hub"),
        ]

    def disk(self) -> None:
        """Append the data partition after the root partition and grow the root filesystem."""
        s = self.settings
        if s.data_device:
            log.info("data volume on the whole device %s: the boot disk is left as it is", s.data_device)
            self._save("data-device", s.data_device)
            return
        root = disk.root_partition()
        device = disk.create_data_partition(root, s.root_size, s.data_min_size, s.data_label)
        self._save("data-device", device)
        disk.grow_root(root)

    def hostname(self) -> None:
        """Set the host name from the settings, the board serial or the first MAC."""
        s = self.settings
        name = s.hostname or hostname.derive(s.hostname_prefix, hostname.board_serial(), hostname.first_mac())
        hostname.apply(name)

    def ssh_host_keys(self) -> None:
        """Make the SSH host keys and log their fingerprints."""
        for line in identity.fingerprints(identity.make_host_keys()):
            log.info("SSH host key %s", line)

    def admin_password(self) -> None:
        """Make the console admin password (root-only file)."""
        identity.ensure_admin_password()

    def data_volume(self) -> None:
        """Create, unlock and mount the encrypted data volume."""
        device = self.settings.data_device or self._load("data-device")
        if not device:
            root = disk.root_partition()
            found = disk.data_partition_after(disk.read_table(root.disk), root.number)
            device = found["node"] if found else ""
        if not device or not Path(device).exists():
            raise RuntimeError(f"no data partition found ({device or 'none recorded'}); the disk step made none")
        mode = volume.set_up(self.settings, device)
        log.info("data volume on %s mounted at %s (unlock: %s)", device, self.settings.data_dir, mode)

    def secrets(self) -> None:
        """Make the event-socket password and the console's signing key, readable by the daemons' group.

        The console runs as the service user and cannot create files in the root-owned secrets folder:
        first boot makes its key, as it makes every other per-device secret.
        """
        esl = Path(self.cfg["freeswitch"]["esl_password_file"])
        console_key = Path(console_settings(self.cfg)["secret_key_file"])
        for path, length in ((esl, 32), (console_key, 64)):
            secrets.load_or_create(path, length)
            _share_with_group(path, self.settings.service_group)

    def ca(self) -> None:
        """Make the appliance's CA: standalone with a local root, or a request waiting for the hub."""
        s, name = self.settings, socket.gethostname()
        pki_dir = Path(self.cfg["pki"]["dir"])
        if not s.standalone:
            request = ca.request_for_hub(pki_dir, name)
            log.info("fleet mode: the intermediate request %s waits for the hub (enrol step)", request)
            return
        log.info("standalone mode: no hub configured, the box makes its own root CA")
        address = report.primary_address()
        done = ca.standalone(
            pki_dir,
            s.data_dir / ca.ROOT_DIR_NAME,
            Path(self.cfg["freeswitch"]["cert_dir"]),
            name,
            ca.dns_names(name, s.pki_domains),
            list(s.pki_networks),
            [address] if address else [],
            extra_ca=[Path(p) for p in self.cfg["pki"].get("freeswitch_extra_ca") or []],
        )
        log.info("certificates: console %s, sip %s; FreeSWITCH's in %s", done["console"], done["sip"], done["agent"])

    def wireguard(self) -> None:
        """Make the WireGuard private key on the box (it never leaves); log the public key."""
        from appliance.vpn import keys, model

        path = model.private_key_path(self.cfg.get("vpn") or {}, Path("/etc/appliance"))
        keys.ensure_private_key(path)
        log.info("WireGuard public key (for enrolment): %s", keys.public_key(path))

    def database(self) -> None:
        """Create the cluster, role and database; migrate; seed the site; render FreeSWITCH's configuration."""
        pg = self.settings.postgresql
        database.ensure_cluster(pg["version"], pg["cluster"])
        with database.running(pg["version"], pg["cluster"]):
            database.ensure_role_and_database(pg["database"], pg["owner"])
            dsn = self.cfg["database"]["dsn"]
            database.migrate(dsn)
            changes = database.seed_site(dsn, self.settings.site, report.primary_address())
            log.info("site settings seeded: %s", changes or "none needed")
            database.create_console_admin(identity.ADMIN_PASSWORD_FILE)
            release = database.render(self.cfg)
            log.info("FreeSWITCH configuration %s in %s", release["release"], release["path"])
        database.start_when_first_boot_ends(pg["version"], pg["cluster"])

    def enrol(self) -> None:
        """Log what the fleet's enrolment run (ansible/enrol.yml) will carry to the hub, when one is configured."""
        from appliance.pki import intermediate
        from appliance.pki.store import CaStore
        from appliance.vpn import model
        from appliance.vpn.keys import public_key

        request = intermediate.request_paths(CaStore.appliance(Path(self.cfg["pki"]["dir"])))[1]
        key_file = model.private_key_path(self.cfg.get("vpn") or {}, Path("/etc/appliance"))
        wg_key = public_key(key_file) if key_file.exists() else None
        enrol.enrol(self.settings.hub_url, wg_key, request if request.exists() else None)

    # -- the end --------------------------------------------------------------------------------

    def finish(self) -> list[str]:
        """Write the done markers and the console's issue text; return the lines to print."""
        s = self.settings
        name = socket.gethostname()
        url = report.console_url(name, report.primary_address(), s.console_port)
        prints = identity.fingerprints(sorted(Path("/etc/ssh").glob("ssh_host_*_key.pub")))
        mode = storage.read_mode(s.data_dir) or "?"
        secret = identity.ADMIN_PASSWORD_FILE
        password = secret.read_text(encoding="utf-8").strip() if secret.exists() else None
        report.write_issue(report.issue_text(name, url, prints, password, mode))
        # Contract marker on the data volume, and the one the unit's condition reads on the root filesystem.
        runner.mark_done(s.data_dir / DONE_NAME)
        runner.mark_done(s.state_dir / "done")
        return report.ready_lines(name, url, prints, mode)

    # -- helpers --------------------------------------------------------------------------------

    def _save(self, name: str, value: str) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.state_dir / name).write_text(value + "\n", encoding="utf-8")

    def _load(self, name: str) -> str:
        path = self.settings.state_dir / name
        return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def _share_with_group(path: Path, group: str) -> None:
    """Let group read a secret file (root:<group> 0640); log and leave it root-only if the group is missing."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("group %s does not exist: %s stays readable by root only", group, path)
        return
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)
