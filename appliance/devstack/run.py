# SPDX-License-Identifier: GPL-3.0-or-later
"""`make run`: the whole appliance on this host for development, bound to 127.0.0.1.

A throwaway PostgreSQL, a small demo office (two extensions, a desk phone, a two-port ATA),
FreeSWITCH from FREESWITCH_PREFIX or PATH on the configuration rendered from it, and the
daemons. Prints where everything listens and how to log a phone in; Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
from appliance.devstack.net import free_port
from appliance.devstack.pgcluster import PgCluster
from appliance.devstack.stack import Stack
from appliance.store.db import connect
from appliance.store.migrate import migrate
from appliance.store.repo import Store

log = logging.getLogger("appliance.run")

# The usual ports when they are free on this host, so a softphone profile can be reused.
PREFERRED = {"sip": 5060, "tls": 5061, "external": 5080, "esl": 8021, "socket": 8084}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if find_freeswitch() is None:
        print(f"{NOT_FOUND}; `make run` needs it.", file=sys.stderr)
        return 1
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    log.info("starting a throwaway PostgreSQL")
    pg = PgCluster(base=workdir / "pg")
    stack: Stack | None = None
    try:
        pg.start()
        with connect(pg.dsn, autocommit=True) as conn:
            migrate(conn)
        stack = Stack(workdir, pg.dsn, ports={k: _port(v) for k, v in PREFERRED.items()}, daemon_log_level="INFO")
        stack.bind_site()
        _demo_office(pg.dsn)
        log.info("rendering the configuration and starting FreeSWITCH")
        stack.start()
        _print_summary(stack, pg)
        stop.wait()
        log.info("stopping")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.close()
        pg.destroy()
    log.info("stopped; files were under %s", workdir)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".run", help="where every file of this run goes (wiped at start)")
    return parser.parse_args(argv)


def _port(preferred: int) -> int:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", preferred))
            except OSError:
                return free_port()
    return preferred


def _demo_office(dsn: str) -> None:
    with connect(dsn, autocommit=True) as conn:
        store = Store(conn)
        store.update_site(domain="pbx.local")
        store.add_extension("101", "Alice")
        store.add_extension("102", "Bob")
        store.add_device("desk", "sip_phone", [{"port": 1, "extension": "101"}])
        store.add_device("ata", "fxs_gateway", [{"port": 1, "extension": "102"}, {"port": 2, "extension": "102"}])


def _print_summary(stack: Stack, pg: PgCluster) -> None:
    snap = stack.snapshot()
    fs = stack.cfg["freeswitch"]
    rows = [
        ("PostgreSQL", f"127.0.0.1:{pg.port}", pg.dsn),
        ("SIP for phones (UDP/TCP)", f"127.0.0.1:{stack.ports['sip']}", f"domain {snap.site.domain}"),
        ("SIP for trunks (UDP/TCP)", f"127.0.0.1:{stack.ports['external']}", "only trunk addresses may call"),
        ("Event socket", f"127.0.0.1:{stack.ports['esl']}", f"password in {fs['esl_password_file']}"),
        ("Outbound-socket flows", f"127.0.0.1:{stack.ports['socket']}", "dial *43 for the echo flow"),
        ("Configuration", fs["conf_root"] + "/current", f"logs in {stack.workdir}"),
    ]
    print("\nThe appliance is running (Ctrl-C stops everything):\n")
    for name, where, note in rows:
        print(f"  {name:<26} {where:<22} {note}")
    print("\nPhone accounts (user / password):")
    for ext in snap.extensions:
        print(f"  extension {ext.number:<6} {ext.number:<12} {ext.sip_password}")
    for dev in snap.devices:
        for line in dev.lines:
            print(f"  {dev.name} port {line.port:<4} {line.sip_username:<12} {line.sip_password}")
    print(f"\nScript it: .venv/bin/appliance --config {stack.config_file()} extension list\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
