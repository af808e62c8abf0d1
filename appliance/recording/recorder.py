# SPDX-License-Identifier: GPL-3.0-or-later
"""The recorder daemon: encrypt every finished recording to the owner's key and remove the plaintext.

FreeSWITCH records into a RAM staging directory (tmpfs). When a recording ends FreeSWITCH
fires RECORD_STOP (after closing the file); this daemon then encrypts the file into the data
directory and unlinks the plaintext, so plaintext never reaches persistent storage and the
appliance, holding only the public key, cannot read a recording once it is written.

A sweep (at start and every few seconds) catches files whose event was missed (the daemon or
its ESL connection was down): a file untouched for `stale_seconds` is no longer being written,
since FreeSWITCH writes a recording every 20 ms while the call lasts.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

import gevent
import gevent.event
import psycopg

from appliance.callcontrol.esl import EslClient, read_password, run_forever
from appliance.lifecycle import configure_logging, stop_on_signals
from appliance.recording.crypto import SUFFIX, RecordingKeyError, encrypt_file

log = logging.getLogger(__name__)

EVENTS = ["RECORD_STOP"]


class Recorder:
    """Move recordings from the staging directory to the data directory, encrypted."""

    def __init__(
        self,
        staging: Path,
        store: Path,
        public_key: Callable[[], str],
        *,
        stale_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ):
        self.staging = Path(staging).resolve()
        self.store = Path(store)
        self.public_key = public_key
        self.stale_seconds = stale_seconds
        self.clock = clock
        self.secured = 0

    def on_connected(self, client: EslClient) -> None:
        """Handle RECORD_STOP events on a fresh connection, then sweep what finished meanwhile."""
        client.on("RECORD_STOP", self.on_record_stop)
        client.subscribe(EVENTS)
        self.sweep()

    def on_record_stop(self, headers: dict[str, str]) -> None:
        """Secure the file a finished recording wrote."""
        path = headers.get("Record-File-Path", "")
        if path:
            self.secure(Path(path))

    def sweep(self) -> int:
        """Secure every staged file nobody has written to for stale_seconds; return how many."""
        count = 0
        now = self.clock()
        for path in sorted(self.staging.glob("*")):
            try:
                idle = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if path.is_file() and not path.name.startswith(".") and idle >= self.stale_seconds:
                count += self.secure(path)
        return count

    def secure(self, path: Path) -> bool:
        """Encrypt one staged plaintext into the data directory and unlink it; return True if done."""
        path = Path(path).resolve()
        if path.parent != self.staging:
            log.warning("ignoring %s: not in the staging directory %s", path, self.staging)
            return False
        try:
            stat = path.stat()
        except FileNotFoundError:
            # FreeSWITCH discards empty and too short recordings (RECORD_MIN_SEC) itself.
            log.debug("recording %s is gone (discarded by FreeSWITCH or already secured)", path)
            return False
        key = self.public_key()
        if not key:
            log.error("no recording key registered: %s stays in RAM staging until one is", path.name)
            return False
        day = time.strftime("%Y-%m-%d", time.gmtime(stat.st_mtime))
        dest = self.store / day / (path.name + SUFFIX)
        try:
            encrypt_file(path, dest, key)
        except (OSError, RecordingKeyError) as exc:
            log.error("could not encrypt %s (it stays in RAM staging): %s", path.name, exc)
            return False
        path.unlink()
        self.secured += 1
        log.info("recording %s encrypted to %s (%d bytes of plaintext removed)", path.name, dest, stat.st_size)
        return True


class KeyFromDatabase:
    """Read site.recording_key from PostgreSQL; keep the last one read when the database is away."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.last = ""

    def __call__(self) -> str:
        from appliance.store.db import connect

        try:
            with connect(self.dsn, autocommit=True) as conn:
                self.last = conn.execute("SELECT recording_key FROM site").fetchone()["recording_key"]
        except (psycopg.Error, OSError) as exc:  # the database is away: use the cached key
            log.warning("cannot read the recording key from PostgreSQL (%s); using the last one read", exc)
        return self.last


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="appliance-recorder", description=__doc__.splitlines()[0])
    parser.add_argument("--esl-host", default="127.0.0.1")
    parser.add_argument("--esl-port", type=int, default=8021)
    parser.add_argument("--esl-password-file", default="/var/lib/appliance/secrets/esl_password")
    parser.add_argument("--dsn", default="host=/run/postgresql dbname=appliance user=appliance")
    parser.add_argument("--staging-dir", default="/run/appliance/recordings", help="where FreeSWITCH records (tmpfs)")
    parser.add_argument("--recordings-dir", default="/var/lib/appliance/recordings", help="encrypted recordings")
    parser.add_argument("--sweep-seconds", type=float, default=5.0)
    parser.add_argument("--stale-seconds", type=float, default=60.0, help="a staged file idle this long is finished")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, stop: gevent.event.Event) -> int:
    """Run until stop is set; return how many recordings were secured."""
    staging = Path(args.staging_dir)
    staging.mkdir(mode=0o750, parents=True, exist_ok=True)
    recorder = Recorder(staging, Path(args.recordings_dir), KeyFromDatabase(args.dsn), stale_seconds=args.stale_seconds)
    password = read_password(args.esl_password_file)
    recorder.sweep()  # whatever a previous run or a FreeSWITCH crash left behind
    sweeper = gevent.spawn(_sweep_forever, recorder, args.sweep_seconds, stop)
    log.info("securing recordings from %s into %s", staging, args.recordings_dir)
    try:
        run_forever(lambda: EslClient(args.esl_host, args.esl_port, password), recorder.on_connected, stop)
    finally:
        sweeper.kill()
    return recorder.secured


def _sweep_forever(recorder: Recorder, interval: float, stop: gevent.event.Event) -> None:
    while not stop.wait(interval):
        recorder.sweep()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `appliance daemon recorder`."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    with stop_on_signals() as stop:
        secured = serve(args, stop)
    log.info("stopped; %d recordings secured this run", secured)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
