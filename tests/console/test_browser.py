# SPDX-License-Identifier: GPL-3.0-or-later
"""Real Chromium (Debian's, driven by Playwright) against the console served over HTTPS on 127.0.0.1.

The console's certificate comes from the appliance's own CA: a fleet root, an intermediate
name-constrained to localhost and 127.0.0.1, a `console` leaf. The browser is told to trust the fleet
root (a throwaway NSS database in a throwaway HOME), exactly as an admin's browser would be, so it
checks the whole chain and the name constraints; certificate errors are NOT ignored.
Screenshots go to tests/artifacts/console/.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.console import create_app
from appliance.console.clock import system_now
from appliance.console.serve import pki_files, server
from appliance.pki import intermediate
from appliance.pki.issue import issue
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore
from tests.console.conftest import console_config, make_user
from tests.console.test_dashboard import add_cdr

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
FIRST_BOOT = "FirstBoot-Generated-7Qx2"
NEW_PASSWORD = "Office-Phones-Passphrase-2030"
SEEDED_CDRS = 12

if not Path(CHROMIUM).exists():
    pytest.skip("chromium not installed (apt-get install chromium): browser test skipped", allow_module_level=True)
if shutil.which("certutil") is None:
    pytest.skip("certutil not installed (apt-get install libnss3-tools): browser test skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: browser test skipped")


@pytest.fixture
def pki(tmp_path):
    """Return (root.pem, CA directory) with a current console certificate for localhost and 127.0.0.1."""
    root = create_root("Console Test Fleet Root", tmp_path / "hub")
    store = CaStore.appliance(tmp_path / "appliance-ca")
    csr = intermediate.create_request(store, "console test appliance CA")
    intermediate.install(store, sign_intermediate(root, csr, ["localhost"], ["127.0.0.1"], 30), root.cert)
    issue(store, "console", ["localhost", "127.0.0.1"])
    return tmp_path / "hub" / "root.pem", store.dir


@pytest.fixture
def browser_home(tmp_path, pki):
    """Return a HOME whose NSS database trusts the fleet root, and nothing else added."""
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=30)
    subprocess.run(
        ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "fleet-root", "-i", str(pki[0])],
        check=True,
        timeout=30,
    )
    return home


@pytest.fixture
def console_url(dsn, db, pki):
    """Serve the console over HTTPS on 127.0.0.1 (a free port) in a thread; return its base URL."""
    app = create_app({**console_config(dsn, system_now), "TESTING": False})
    make_user(db, "admin", FIRST_BOOT, must_change=True)
    now = system_now()
    for i in range(SEEDED_CDRS):
        add_cdr(
            db,
            now - timedelta(hours=i * 5),
            answered=i % 3 != 0,
            caller_number=f"+4930555{i:04d}",
            did="+4930123456",
            tracking_tag="spring-flyer",
        )
    srv = server(app, "127.0.0.1", 0, lambda: pki_files(pki[1]))
    thread = threading.Thread(target=srv.serve_forever, name="console-https", daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(10)


def test_sign_in_change_password_create_extension_export_cdrs(console_url, browser_home, db):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env={"HOME": str(browser_home)})
        context = browser.new_context(accept_downloads=True)  # certificate errors are not ignored
        page = context.new_page()
        page.set_default_timeout(30_000)
        # A CSP violation or a missing asset shows up here: the page must need nothing the console refuses.
        # (A refused form is answered 422 on purpose; the browser reports that status too.)
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" and "status of 422" not in m.text else None,
        )
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

        page.goto(console_url + "/extensions/")
        assert page.url == console_url + "/auth/signin?next=/extensions/"
        page.screenshot(path=ARTIFACTS / "01-sign-in.png", full_page=True)

        page.fill("#username", "admin")
        page.fill("#password", FIRST_BOOT)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(console_url + "/auth/password")
        assert "first-boot password must not stay in use" in page.inner_text("main")
        cookie = next(c for c in context.cookies() if c["name"] == "__Host-console")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.screenshot(path=ARTIFACTS / "02-forced-password-change.png", full_page=True)

        page.fill("#current", FIRST_BOOT)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("button:has-text('Change password')")
        page.wait_for_url(console_url + "/")
        assert "Password changed." in page.inner_text("main")
        assert page.locator("#chart-week svg").count() == 1
        page.screenshot(path=ARTIFACTS / "03-dashboard.png", full_page=True)

        page.click("nav >> text=Extensions")
        page.click("text=New extension")
        page.fill("#number", "150")
        page.fill("#name", "Carol Reception")
        page.fill("#sip_password", "short")
        page.click("button:has-text('Save')")
        error = page.inner_text("#field-sip_password .errors")
        assert "must be at least 16 characters (got 5)" in error
        page.screenshot(path=ARTIFACTS / "04-extension-refused.png", full_page=True)
        assert db.execute("SELECT count(*) AS n FROM extensions").fetchone()["n"] == 0

        page.fill("#sip_password", "")
        page.click("button:has-text('Save')")
        page.wait_for_url(console_url + "/extensions/150")
        assert "Extension 150 saved;" in page.inner_text(".flash")
        page.click("nav >> text=Extensions")
        assert "Carol Reception" in page.inner_text("#extensions")
        page.screenshot(path=ARTIFACTS / "05-extensions.png", full_page=True)

        page.click("nav >> text=Calls")
        assert page.locator("#cdrs tbody tr").count() == SEEDED_CDRS
        page.screenshot(path=ARTIFACTS / "06-calls.png", full_page=True)
        with page.expect_download() as download_info:
            page.click("#export")
        download = download_info.value
        assert download.suggested_filename.startswith("cdrs-") and download.suggested_filename.endswith(".csv")
        target = ARTIFACTS / "cdrs-export.csv"
        download.save_as(target)
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert len(rows) == SEEDED_CDRS
        assert {r["tracking_tag"] for r in rows} == {"spring-flyer"}
        browser.close()
    assert problems == []


def test_ring_group_and_forwarding_rule_through_the_pages(console_url, browser_home, db):
    """A PBX flow: a ring group (refused first, next to the field), then a forwarding rule to it."""
    from appliance.store.repo import Store

    store = Store(db, actor="console")
    store.add_extension("101", "Alice")
    store.add_extension("102", "Bob")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env={"HOME": str(browser_home)})
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" and "status of 422" not in m.text else None,
        )
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.goto(console_url + "/")
        page.fill("#username", "admin")
        page.fill("#password", FIRST_BOOT)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(console_url + "/auth/password")
        page.fill("#current", FIRST_BOOT)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("button:has-text('Change password')")
        page.wait_for_url(console_url + "/")

        page.click("nav >> text=Groups")
        page.click("text=New ring group")
        page.fill("#name", "sales")
        page.fill("#members", "101 109")
        page.select_option("#strategy", "sequential")
        page.click("button:has-text('Save')")
        assert "109" in page.inner_text("#field-members .errors")
        assert db.execute("SELECT count(*) AS n FROM ring_groups").fetchone()["n"] == 0
        page.screenshot(path=ARTIFACTS / "09-ring-group-refused.png", full_page=True)
        page.fill("#members", "101 102")
        page.click("button:has-text('Save')")
        page.wait_for_url(console_url + "/groups/sales")
        assert "Ring group sales saved;" in page.inner_text(".flash")
        page.click("nav >> text=Groups")
        assert "101, 102" in page.inner_text("#groups")
        page.screenshot(path=ARTIFACTS / "10-ring-groups.png", full_page=True)

        page.click("nav >> text=Forwarding")
        page.click("text=New forwarding rule")
        page.fill("#extension", "102")
        page.select_option("#condition", "no_answer")
        page.select_option("#destination_kind", "group")
        page.fill("#destination", "sales")
        page.fill("#ring_seconds", "15")
        page.click("button:has-text('Save')")
        page.wait_for_url(console_url + "/forwards/102-no_answer-1")
        page.click("nav >> text=Forwarding")
        assert "102-no_answer-1" in page.inner_text("#forwards")
        page.screenshot(path=ARTIFACTS / "11-forwarding-rules.png", full_page=True)
        page.click("nav >> text=Tracking")
        assert page.locator("svg.chart").count() == 1
        assert "spring-flyer" in page.inner_text("#totals")
        page.screenshot(path=ARTIFACTS / "12-tracking.png", full_page=True)
        # Every other PBX page renders in a real browser with nothing refused by the CSP.
        for label, heading in (
            ("Schedules", "Schedules"),
            ("IVR", "IVR menus"),
            ("Queues", "Call queues"),
            ("Voicemail", "Voicemail"),
            ("Recordings", "Recordings"),
        ):
            page.click(f"nav >> text={label}")
            assert page.inner_text("main h1") == heading
        page.screenshot(path=ARTIFACTS / "13-recordings.png", full_page=True)
        browser.close()
    rule = db.execute("SELECT destination_kind, destination, ring_seconds FROM forward_rules").fetchone()
    assert rule == {"destination_kind": "group", "destination": "sales", "ring_seconds": 15}
    assert problems == []


# -- with a real FreeSWITCH: a phone registers the extension the admin just made -------------------
@pytest.fixture
def live_office(pg_cluster, tmp_path):
    """Return a running office (real FreeSWITCH, the daemons); skipped with one line without FreeSWITCH."""
    from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
    from tests.conftest import new_database
    from tests.harness import sipp
    from tests.harness.office import Office

    if find_freeswitch() is None:
        pytest.skip(f"{NOT_FOUND}: browser test with a registering phone skipped")
    if not sipp.available():
        pytest.skip("sipp not installed (apt-get install sip-tester): browser test with a registering phone skipped")
    office = Office(tmp_path / "office", new_database(pg_cluster))
    office.populate()
    try:
        yield office.start()
    finally:
        office.close()


@pytest.fixture
def live_console_url(live_office, pki):
    """Serve the console beside the office's FreeSWITCH (changes applied at once, live dashboard)."""
    import copy

    from appliance import config as configuration
    from appliance.store.db import connect

    cfg = copy.deepcopy(configuration.DEFAULTS)
    for section, values in live_office.cfg.items():
        cfg.setdefault(section, {}).update(values)
    cfg["pki"]["dir"] = str(pki[1])
    app_config = {
        **console_config(live_office.dsn, system_now),
        "APPLIANCE_CONFIG": cfg,
        "FREESWITCH_LIVE": True,
        "ESL_TIMEOUT": 10.0,
        "TESTING": False,
    }
    app = create_app(app_config)
    with connect(live_office.dsn, autocommit=True) as conn:
        make_user(conn, "admin", FIRST_BOOT, must_change=True)
    srv = server(app, "127.0.0.1", 0, lambda: pki_files(pki[1]))
    thread = threading.Thread(target=srv.serve_forever, name="console-https-live", daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(10)
    app.extensions["console_freeswitch"].shutdown()


def test_new_extension_registers_and_its_call_is_exported(live_office, live_console_url, browser_home):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = live_console_url
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env={"HOME": str(browser_home)})
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)  # saving an extension reloads FreeSWITCH before the answer
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

        page.goto(url + "/")
        page.fill("#username", "admin")
        page.fill("#password", FIRST_BOOT)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(url + "/auth/password")
        page.fill("#current", FIRST_BOOT)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("button:has-text('Change password')")
        page.wait_for_url(url + "/")
        assert "150" not in page.inner_text("main")

        page.click("nav >> text=Extensions")
        page.click("text=New extension")
        page.fill("#number", "150")
        page.fill("#name", "Carol Reception")
        page.click("button:has-text('Save')")
        page.wait_for_url(url + "/extensions/150")
        flash = page.inner_text(".flash")
        assert "Extension 150 saved; configuration applied (release" in flash, flash

        # A desk phone registers the new account through the real FreeSWITCH: the configuration
        # the console just applied is what lets it in.
        registered = live_office.register("150")
        assert registered.ok and registered.received("SIP/2.0 200"), registered.explain()
        page.click("nav >> text=Dashboard")
        registrations = page.inner_text("#registrations")
        assert "extension 150 (Carol Reception)" in registrations, registrations
        assert page.get_attribute("#health-trunks", "data-state") == "ok"  # the office's carrier gateway
        page.screenshot(path=ARTIFACTS / "07-dashboard-registered.png", full_page=True)

        # The new extension calls a desk phone; the CDR the listener writes is in the export.
        desk = live_office.phone("desk101-1")
        call = live_office.call("150", "101")
        assert call.ok, call.explain()
        assert desk.wait(timeout=30).ok
        live_office.cdr_of(call)
        page.click("nav >> text=Calls")
        assert "150" in page.inner_text("#cdrs")
        page.screenshot(path=ARTIFACTS / "08-calls-live.png", full_page=True)
        with page.expect_download() as download_info:
            page.click("#export")
        target = ARTIFACTS / "cdrs-export-live.csv"
        download_info.value.save_as(target)
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert [(r["caller_number"], r["destination"], r["call_type"]) for r in rows] == [("150", "101", "internal")]
        browser.close()
    assert problems == []
