# SPDX-License-Identifier: GPL-3.0-or-later
"""Record what the SIP guard daemon sees: sofia's registration events from a real FreeSWITCH.

Starts the test office (tests/harness/office.py: PostgreSQL, FreeSWITCH, sipp) and records one
event-socket session subscribed to the events `appliance.firewall.guard` uses while

    127.0.0.3  registers extension 101 with its password (a phone)
    127.0.0.2  registers 102 with a wrong password three times, then an unknown user (a scanner)
    127.0.0.2  sends an INVITE to an outside number without credentials (challenged, never answered)
    127.0.0.2  sends an INVITE answering the challenge with a wrong password
    127.0.0.3  registers 102 with a wrong password three times (a phone with a stale second line)
    127.0.0.3  registers 101 again

    FREESWITCH_PREFIX=/usr/local/freeswitch .venv/bin/python tests/tools/record_sipguard.py [OUT]

OUT defaults to tests/fixtures/esl/inbound-sipguard.txt.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.devstack.pgcluster import PgCluster  # noqa: E402
from appliance.firewall.guard import EVENTS  # noqa: E402
from appliance.store.db import connect  # noqa: E402
from appliance.store.migrate import migrate  # noqa: E402
from tests.harness import scanner  # noqa: E402
from tests.harness.office import Office  # noqa: E402

RECORDER = [sys.executable, str(ROOT / "tests" / "tools" / "record_esl.py")]
WRONG = "Wrong-Password-0123456789"


def record(out: Path, work: Path) -> None:
    """Run the office, the recorder and the SIP traffic; write the transcript to out."""
    cluster = PgCluster().start()
    try:
        with connect(cluster.dsn) as conn:
            migrate(conn)
        office = Office(work / "office", cluster.dsn)
        office.populate()
        office.start()
        try:
            _traffic(office, out)
        finally:
            office.close()
    finally:
        cluster.destroy()


def _traffic(office: Office, out: Path) -> None:
    recorder = subprocess.Popen(
        [*RECORDER, "inbound", "--port", str(office.ports["esl"]),
         "--password-file", office.cfg["freeswitch"]["esl_password_file"],
         "--events", *EVENTS, "--count", "1000", "--seconds", "25", "--out", str(out)]
    )  # fmt: skip
    time.sleep(2)  # subscribed before the first packet
    user, password = office.account("101")
    assert scanner.register(office, scanner.PHONE, user, password).received("SIP/2.0 200")
    for _ in range(3):
        assert scanner.register(office, scanner.SCANNER, "102", WRONG).received("SIP/2.0 403")
    scanner.register(office, scanner.SCANNER, "999", WRONG)
    print(
        "unauthenticated INVITE:",
        scanner.final_status(scanner.invite(office, scanner.SCANNER, "00441234567", office.ports["sip"])),
        file=sys.stderr,
    )
    print("wrong-password INVITE:", scanner.final_status(
        scanner.invite(office, scanner.SCANNER, "00441234567", office.ports["sip"], auth=("102", WRONG))),
        file=sys.stderr)  # fmt: skip
    for _ in range(3):
        assert scanner.register(office, scanner.PHONE, "102", WRONG).received("SIP/2.0 403")
    assert scanner.register(office, scanner.PHONE, user, password).received("SIP/2.0 200")
    recorder.wait(40)


def main(argv: list[str]) -> int:
    """Record into argv[0] (default tests/fixtures/esl/inbound-sipguard.txt)."""
    out = Path(argv[0]) if argv else ROOT / "tests" / "fixtures" / "esl" / "inbound-sipguard.txt"
    record(out.resolve(), Path(tempfile.mkdtemp(prefix="sipguard-record-")))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
