# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench` (second part): the console's CDR search, CSV export and dashboard over one million
CDRs, through real HTTPS requests with a signed-in session, and CDR ingest through the CdrWriter.

Read docs/benchmarks.md ("CDRs at scale") for the method. BENCH_QUICK=1 uses 200,000 CDRs and fewer
requests; BENCH_EXPLAIN=1 prints every query plan in full. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests

from appliance.console import cdrquery, create_app
from appliance.console.passwords import hasher
from appliance.console.serve import pki_files, server
from appliance.console.users import create as create_user
from appliance.devstack.pgcluster import PgCluster, find_bindir
from appliance.pki import intermediate
from appliance.pki.issue import issue
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore
from appliance.store.db import connect
from appliance.store.migrate import migrate
from appliance.store.repo import Store
from tests.bench import cdrgen
from tests.bench.ingest import measure_ingest
from tests.console.conftest import console_config
from tests.console.fakefs import PASSWORD as ESL_PASSWORD
from tests.console.fakefs import ThreadedFakeEsl
from tests.console.test_dashboard import CALLS, REGISTRATIONS

QUICK = os.environ.get("BENCH_QUICK") == "1"
EXPLAIN = os.environ.get("BENCH_EXPLAIN") == "1"
CDRS = 200_000 if QUICK else 1_000_000
REQUESTS = 20 if QUICK else 60  # timed requests per case, after WARMUP
WARMUP = 3
INGEST = 5_000 if QUICK else 20_000
INGEST_SPOOLED = 2_000 if QUICK else 5_000  # Spool.put fsyncs each record: slow to fill
TARGET_MS = 150.0
TARGET_INGEST = 2000.0
# The box's PostgreSQL settings (roles/postgresql defaults), durable: no test shortcuts here.
BOX_SETTINGS = {"shared_buffers": "64MB", "max_connections": "50"}
PASSWORD = "Quiet-Ledger-Orbit-4471"


def say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Case:
    """One page the admin opens, and what its answer must contain to count."""

    name: str
    path: str
    expect: str  # a fragment of a correct answer (a wrong page must not be timed as a fast one)
    target: bool = True  # counted against the 150 ms target


def cases(end: datetime, conn) -> list[Case]:
    """Return the pages measured; the filters use values that exist in the generated data."""
    day = (end - timedelta(days=3)).date().isoformat()
    week_ago = (end - timedelta(days=7)).date().isoformat()
    month_ago = (end - timedelta(days=30)).date().isoformat()
    # A repeat caller with a handful of calls: the "find this customer's calls" search.
    caller = conn.execute(
        "SELECT caller_number FROM cdrs WHERE call_type = 'inbound' GROUP BY 1 HAVING count(*) BETWEEN 5 AND 40 LIMIT 1"
    ).fetchone()["caller_number"]
    rows = '<table class="list" id="cdrs">'
    return [
        Case("dashboard (ESL live state, 24 h + 7 d charts)", "/", 'class="chart"'),
        Case("search: newest first, page 1", "/cdrs/", rows),
        Case("search: page 20, by the Older link (keyset)", f"/cdrs/?page=20&after={_cursor(conn, 19 * 50)}", rows),
        Case("search: page 200, by the Older link (keyset)", f"/cdrs/?page=200&after={_cursor(conn, 199 * 50)}", rows),
        Case("search: page 200 by number (OFFSET, a bookmark)", "/cdrs/?page=200", rows),
        Case("search: one day", f"/cdrs/?from={day}&to={day}", rows),
        Case("search: call type internal", "/cdrs/?call_type=internal", rows),
        Case("search: call type unknown (1%)", "/cdrs/?call_type=unknown", rows),
        Case("search: tag newsletter", "/cdrs/?tag=newsletter", rows),
        Case("search: tag + last week, page 3", f"/cdrs/?tag=radio&from={week_ago}&page=3", rows),
        Case("search: a caller's whole number", f"/cdrs/?number={caller.replace('+', '%2B')}", rows),
        Case("search: part of a number (7 digits)", f"/cdrs/?number={caller[-7:]}", rows),
        Case("search: part of a number (3 digits)", f"/cdrs/?number={caller[-3:]}", rows),
        Case("search: a number never seen", "/cdrs/?number=5550199", 'id="no-cdrs"'),
        Case("search: number + type + month", f"/cdrs/?number={caller[-6:]}&call_type=inbound&from={month_ago}", rows),
        Case("export CSV: a caller's calls", f"/cdrs/export.csv?number={caller.replace('+', '%2B')}", caller),
        Case("export CSV: tag, one day", f"/cdrs/export.csv?tag=newsletter&from={day}&to={day}", "newsletter"),
        Case("numbers page (30-day tracking)", "/numbers/", "+4930123456000", target=False),
    ]


def _cursor(conn, rows_before: int) -> str:
    """Return the Older link's cursor after rows_before rows (the last row of the page before), URL-ready."""
    from urllib.parse import quote

    row = conn.execute(
        f"SELECT started_at, uuid FROM cdrs ORDER BY {cdrquery.NEWEST_FIRST} OFFSET %s LIMIT 1", (rows_before - 1,)
    ).fetchone()
    return quote(str(cdrquery.Cursor.of(row)), safe="")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class AppTimer:
    """WSGI middleware: time spent in the console itself per request, to its last body byte (no TLS, no HTTP)."""

    def __init__(self, app):
        self.app = app
        self.last_ms = 0.0

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = self.app(environ, start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()  # WSGI: the server's close() must reach Flask (it ends a streamed export's context)
            self.last_ms = (time.perf_counter() - started) * 1000


def timed(session: requests.Session, base: str, case: Case, timer: AppTimer) -> tuple[list[float], list[float]]:
    """Return the wall time of each request (body read completely) and the console's own time, in ms."""
    times, inside = [], []
    for i in range(WARMUP + REQUESTS):
        started = time.perf_counter()
        response = session.get(base + case.path, allow_redirects=False)
        body = response.text  # the whole body: a streamed export counts to its last byte
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or case.expect not in body:
            raise RuntimeError(f"{case.name}: {response.status_code}, {case.expect!r} not in the answer: {body[:300]}")
        if i >= WARMUP:
            times.append(elapsed)
            inside.append(timer.last_ms)
    return times, inside


def explain(dsn: str, path: str) -> str:
    """Return the plan summary (or the whole plan with BENCH_EXPLAIN=1) of a search page's query."""
    from urllib.parse import parse_qsl, urlsplit

    args = dict(parse_qsl(urlsplit(path).query))
    f, errors = cdrquery.parse_filter(args)
    assert not errors, errors
    page = int(args.get("page", 1))
    where, params = cdrquery._where(f)
    if "after" in args:  # the same SQL as cdrquery.search_page
        cursor = cdrquery.parse_cursor(args["after"])
        where += (" AND " if where else " WHERE ") + "(started_at, uuid) < (%s, %s::uuid)"
        params += [cursor.started_at, cursor.uuid]
        page = 1
    sql = (
        f"EXPLAIN (ANALYZE, BUFFERS) SELECT {', '.join(cdrquery.COLUMNS)} FROM cdrs{where}"
        f" ORDER BY {cdrquery._order(f)} LIMIT %s OFFSET %s"
    )
    with connect(dsn) as conn:
        lines = [r["QUERY PLAN"] for r in conn.execute(sql, [*params, 51, (page - 1) * 50]).fetchall()]
    if EXPLAIN:
        return "\n".join("      " + line for line in lines)
    nodes = [line.strip().removeprefix("-> ").split("  (")[0] for line in lines if "(cost=" in line]
    total = next((line for line in lines if line.startswith("Execution Time")), "")
    return f"{total}; " + " / ".join(nodes[:4])


def start_console(dsn: str, end: datetime, work: Path) -> tuple[str, Path, object, ThreadedFakeEsl, AppTimer]:
    """Serve the console over HTTPS with a certificate from the appliance's CA; return its URL and more."""
    root = create_root("Bench Fleet Root", work / "hub")
    store = CaStore.appliance(work / "appliance-ca")
    csr = intermediate.create_request(store, "bench appliance CA")
    intermediate.install(store, sign_intermediate(root, csr, ["localhost"], ["127.0.0.1"], 30), root.cert)
    issue(store, "console", ["localhost", "127.0.0.1"])
    esl = ThreadedFakeEsl(
        {"show registrations as json": _json(REGISTRATIONS), "show calls as json": _json(CALLS)}
    ).start()
    esl_password = work / "esl_password"
    esl_password.write_text(ESL_PASSWORD + "\n")
    config = console_config(dsn, lambda: end)
    config["APPLIANCE_CONFIG"]["freeswitch"].update(esl_port=esl.port, esl_password_file=str(esl_password))
    # As on the box (settings.DEFAULTS): production argon2, a pool of idle connections, a live ESL.
    config.update(TESTING=False, ARGON2=None, FREESWITCH_LIVE=True, ESL_TIMEOUT=3.0, DATABASE_POOL_SIZE=4)
    app = create_app(config)
    timer = AppTimer(app.wsgi_app)
    app.wsgi_app = timer
    srv = server(app, "127.0.0.1", 0, lambda: pki_files(store.dir))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"https://localhost:{srv.server_port}", work / "hub" / "root.pem", srv, esl, timer


def _load() -> str:
    """Return the 1, 5 and 15 minute load averages: this machine may be shared."""
    return " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def signed_in(base: str, root_pem: Path) -> requests.Session:
    """Sign in through the form, as a browser does (CSRF token, same-origin Referer)."""
    import re

    session = requests.Session()
    session.trust_env = False  # no proxy, and REQUESTS_CA_BUNDLE must not replace the fleet root
    session.verify = str(root_pem)
    session.headers["Referer"] = base + "/"
    page = session.get(base + "/auth/signin").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert token, "no CSRF token on the sign-in page"
    answer = session.post(
        base + "/auth/signin",
        data={"csrf_token": token.group(1), "username": "admin", "password": PASSWORD},
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in refused: {answer.status_code}")
    return session


def seed_office(conn) -> None:
    """Add the office the CDRs belong to: 40 extensions, 12 inbound numbers, a trunk, a route."""
    store = Store(conn, actor="console")
    for number in cdrgen.EXTENSIONS:
        store.add_extension(number, f"Desk {number}")
    for trunk in cdrgen.TRUNKS:
        store.add_trunk(trunk, f"sip.{trunk}.example")
    for did in cdrgen.DIDS:
        store.add_number(did, "100", tracking_tag=cdrgen.TAGS.get(did, ""), trunk="carrier")
    store.add_route("national", ["0ZXXXXXXXX."], ["carrier"])


def main() -> int:
    if find_bindir() is None:
        say("PostgreSQL server not installed (apt-get install postgresql): CDR benchmark skipped")
        return 0
    # Not /tmp: on the shared test machine other jobs' churn there makes ext4 create files at ~150/s
    # (2,000/s in /var/tmp, same disk); on the box the CDR directories are under /var as well.
    work = Path(tempfile.mkdtemp(prefix="bench-cdrs-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))
    # SIGTERM ends the run like Ctrl-C: through the finally below, so PostgreSQL is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    cluster = PgCluster(settings=BOX_SETTINGS).start()
    try:
        return run(cluster.dsn, work)
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def run(dsn: str, work: Path) -> int:
    end = cdrgen.now_hour()
    with connect(dsn, autocommit=True) as conn:
        migrate(conn)
        seed_office(conn)
        create_user(conn, hasher(None), "admin", PASSWORD, "admin", actor="bench", must_change=False)
        started = time.perf_counter()
        cdrgen.load(conn, CDRS, end)
        loaded = time.perf_counter() - started
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('cdrs')) AS s").fetchone()["s"]
        all_cases = cases(end, conn)
    say(
        f"{CDRS:,} CDRs over 90 days loaded with COPY in {loaded:.1f} s (indexes built after; table + indexes {size})"
        + (" [BENCH_QUICK=1: fewer CDRs than the 1,000,000 of the target]" if QUICK else "")
    )
    say(f"PostgreSQL {BOX_SETTINGS}, fsync on; console over HTTPS (cheroot, TLS 1.2+) on 127.0.0.1, signed in")
    say(
        f"{REQUESTS} timed requests per page after {WARMUP} warm-up, one at a time, on one kept-alive"
        " connection as a browser does; times include HTTP, TLS and the whole body"
    )
    base, root_pem, srv, esl, timer = start_console(dsn, end, work)
    verdicts = []
    try:
        session = signed_in(base, root_pem)
        say(f"load average before: {_load()}")
        say(f"\n{'page':<50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'app p50':>8} {'app p95':>8}  target")
        for case in all_cases:
            times, inside = timed(session, base, case, timer)
            p95 = percentile(times, 95)
            mark = ("met" if p95 < TARGET_MS else "NOT MET") if case.target else "(no target)"
            if case.target:
                verdicts.append(p95 < TARGET_MS)
            say(
                f"{case.name:<50} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}"
                f" {statistics.median(inside):8.1f} {percentile(inside, 95):8.1f}  {mark}"
            )
        say(f"load average after: {_load()}  (app: time inside the console, without TLS and HTTP)")
        pools = session.get_adapter(base).poolmanager.pools
        opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 (urllib3 container: no iteration)
        say(f"TLS connections (handshakes) the client opened for all of it, sign-in included: {opened}")
        say(
            "\nquery plans of the search pages (EXPLAIN ANALYZE, cdrquery's full query; a number search of 3+"
            f" characters runs it only when its newest {cdrquery.PROBE_ROWS:,} rows do not fill the page):"
        )
        for case in all_cases:
            if case.path.startswith("/cdrs/?") or case.path == "/cdrs/":
                say(f"  {case.name}: {explain(dsn, case.path)}")
    finally:
        srv.shutdown()
        esl.stop()
    say(f"\nload average before ingest: {_load()}")
    ingest = measure_ingest(dsn, work / "ingest", INGEST, end, INGEST_SPOOLED)
    for line in ingest.lines():
        say(line)
    searched = all(verdicts)
    say(
        f"\ntarget: CDR search, export and dashboard p95 < {TARGET_MS:.0f} ms with {CDRS:,} CDRs: "
        + ("MET" if searched else f"NOT MET ({verdicts.count(False)} of {len(verdicts)} pages over)")
    )
    say(
        f"target: CDR ingest >= {TARGET_INGEST:,.0f}/s through the CdrWriter, FreeSWITCH's files (default path): "
        + ("MET" if ingest.files.rate >= TARGET_INGEST else "NOT MET")
        + f" ({ingest.files.rate:,.0f}/s); the spool path: "
        + ("MET" if ingest.spool.rate >= TARGET_INGEST else "NOT MET")
        + f" ({ingest.spool.rate:,.0f}/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
