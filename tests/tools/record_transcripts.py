# SPDX-License-Identifier: GPL-3.0-or-later
"""Re-record tests/fixtures/esl/ from a real FreeSWITCH running the rendered appliance configuration.

Renders the configuration (appliance.fsconf) on private loopback ports, starts FreeSWITCH
(FREESWITCH_PREFIX or PATH) in a scratch directory, places calls and records, with
record_esl.py:

    inbound-bridged-calls.txt    answered calls in the test office (tests/harness/office.py,
                                 PostgreSQL and sipp phones): phone to phone, out through
                                 the carrier gateway, a DID call from the carrier
    inbound-hangup-complete.txt  the CDR listener's session while the calls hang up
    outbound-echo.txt            the echo flow's outbound-socket session (*43)
    outbound-unknown-flow.txt    a session asking for a flow nobody registered
    inbound-shutdown.txt         what a listener receives when FreeSWITCH shuts down

    FREESWITCH_PREFIX=/usr/local/freeswitch .venv/bin/python tests/tools/record_transcripts.py [OUTDIR]

Tests pin UUIDs and times from these files: re-recording means updating those tests.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.devstack.freeswitch import NOT_FOUND, FreeSwitchProcess, find_freeswitch  # noqa: E402
from appliance.devstack.net import free_port  # noqa: E402
from appliance.fsconf import Runtime, check, render  # noqa: E402
from appliance.model import Extension, InboundNumber, Site, Snapshot  # noqa: E402

RECORDER = [sys.executable, str(ROOT / "tests" / "tools" / "record_esl.py")]


def _snapshot(ports: dict[str, int]) -> Snapshot:
    site = Site(
        domain="pbx.test",
        company_number="+4930123450",
        internal_sip_port=ports["internal"],
        internal_tls_port=ports["tls"],
        external_sip_port=ports["external"],
        rtp_start=27000,
        rtp_end=27100,
    )
    return Snapshot(
        site=site,
        extensions=(
            Extension("1001", "Alice Example", secrets.token_hex(10), "493817", caller_id_number="+4930123401"),
            Extension("1002", "Reception", secrets.token_hex(10), "572904"),
        ),
        inbound_numbers=(InboundNumber("+4930123456", "extension", "1001", tracking_tag="google ads/spring"),),
    )


def record_bridged_calls(out: Path, work: Path) -> None:
    """Record a listener's session while sipp phones and a sipp carrier make answered calls."""
    from appliance.devstack.pgcluster import PgCluster
    from appliance.store.db import connect
    from appliance.store.migrate import migrate
    from tests.harness.office import DID, Office

    cluster = PgCluster().start()
    try:
        with connect(cluster.dsn) as conn:
            migrate(conn)
        (work / "office").mkdir()
        office = Office(work / "office", cluster.dsn)
        office.populate()
        office.start()
        try:
            password_file = office.cfg["freeswitch"]["esl_password_file"]
            recorder = subprocess.Popen(
                [*RECORDER, "inbound", "--port", str(office.ports["esl"]), "--password-file", password_file,
                 "--count", "6", "--seconds", "60", "--out", str(out / "inbound-bridged-calls.txt")]
            )  # fmt: skip
            time.sleep(1.5)
            desk = office.phone("desk101-1")
            assert office.call("102", "101", hold_ms=1200).ok and desk.wait(timeout=30).ok
            carrier = office.carrier()
            assert office.call("101", "0301234567", hold_ms=1500).ok and carrier.wait(timeout=30).ok
            desk = office.phone("desk101-1")
            assert office.inbound(DID, hold_ms=1000).ok and desk.wait(timeout=30).ok
            recorder.wait(70)
        finally:
            office.close()
    finally:
        cluster.destroy()


def main(argv: list[str]) -> int:
    """Record the four transcripts into argv[0] (default: a new temporary directory)."""
    binary = find_freeswitch()
    if binary is None:
        raise SystemExit(NOT_FOUND)
    work = Path(tempfile.mkdtemp(prefix="esl-record-"))
    out = Path(argv[0]) if argv else work / "out"
    out.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("esl", "outbound", "internal", "tls", "external")}
    password_file = work / "esl-password"
    password_file.write_text(secrets.token_hex(12) + "\n")
    runtime = Runtime(
        esl_password=password_file.read_text().strip(),
        esl_port=ports["esl"],
        outbound_socket_port=ports["outbound"],
        cert_dir=work / "tls",
        recordings_dir=work / "recordings",
    )
    (work / "tls").mkdir()
    render(_snapshot(ports), runtime, work / "conf")
    check(work / "conf")
    esl = ["--port", str(ports["esl"]), "--password-file", str(password_file)]
    sip = f"127.0.0.1:{ports['internal']}"
    socket_app = f"&socket('127.0.0.1:{ports['outbound']} async full')"
    alice = "{origination_caller_id_number=1001,origination_caller_id_name='Alice Example'}"
    customer = "{origination_caller_id_number=+14155550123,origination_caller_id_name='Zoë Müller & Co'}"
    calls = [
        f"originate {alice}sofia/internal/*43@{sip} &sleep(3000)",  # echo test, unauthenticated
        f"originate {alice}sofia/internal/1002@{sip} &park",  # unauthenticated call to an extension
        f"originate {customer}sofia/internal/+4930123456@{sip} &park",  # DID to an unregistered phone
        "originate {origination_caller_id_number=1001}loopback/*43/default &sleep(1500)",  # echo flow
    ]
    unknown_flow = "originate {appliance_flow=fax2email,origination_caller_id_number=1001}null/1000 " + socket_app
    fs = FreeSwitchProcess(binary, work / "conf", work / "run", ports["esl"]).start(timeout=90)
    try:
        time.sleep(2)  # let the SIP profiles come up
        echo = subprocess.Popen(
            [*RECORDER, "outbound", *esl, "--listen-port", str(ports["outbound"]), "--seconds", "40",
             "--out", str(out / "outbound-echo.txt")]
        )  # fmt: skip
        time.sleep(2)  # the recorder must listen before the loopback call reaches `socket`
        subprocess.run(
            [*RECORDER, "inbound", *esl, "--count", "8", "--seconds", "45",
             *[arg for call in calls for arg in ("--bgapi", call)],
             "--out", str(out / "inbound-hangup-complete.txt")],
            check=True,
        )  # fmt: skip
        echo.wait(60)
        subprocess.run(
            [*RECORDER, "outbound", *esl, "--listen-port", str(ports["outbound"]), "--seconds", "30",
             "--bgapi", unknown_flow,
             "--out", str(out / "outbound-unknown-flow.txt")],
            check=True,
        )  # fmt: skip
        shutdown = subprocess.Popen(
            [*RECORDER, "inbound", *esl, "--events", "SHUTDOWN", "--count", "1", "--until-close",
             "--seconds", "30", "--out", str(out / "inbound-shutdown.txt")]
        )  # fmt: skip
        time.sleep(2)
    finally:
        fs.stop()
    shutdown.wait(30)
    record_bridged_calls(out, work)
    print(f"transcripts in {out}; FreeSWITCH log in {fs.logfile}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
