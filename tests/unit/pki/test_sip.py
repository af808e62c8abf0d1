# SPDX-License-Identifier: GPL-3.0-or-later
"""The SIP certificate's renewal path: renew, export, reload where drop-free, restart only idle profiles."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import timedelta

import pytest

from appliance.pki import crl, keys, sip
from appliance.pki.errors import PkiError
from appliance.pki.freeswitch import export_freeswitch
from appliance.pki.issue import issue

from .conftest import T0

NAMES = ["pbx1.example.org", "192.168.1.10"]
# `sofia status` of FreeSWITCH 1.10.12 (recorded) with one call up: two legs on internal.
SOFIA_STATUS = (
    "                     Name\t   Type\t                                      Data\tState\n"
    "=================================================================================================\n"
    "                 external\tprofile\t             sip:mod_sofia@192.168.1.10:5080\tRUNNING (0)\n"
    "        external::carrier\tgateway\t            sip:FreeSWITCH@127.0.0.1:39789\tNOREG\n"
    "              office.test\t  alias\t                                  internal\tALIASED\n"
    "                 internal\tprofile\t             sip:mod_sofia@192.168.1.10:5060\tRUNNING ({calls})\n"
    "                 internal\tprofile\t             sip:mod_sofia@192.168.1.10:5061\tRUNNING ({calls}) (TLS)\n"
    "=================================================================================================\n"
    "2 profiles 1 alias\n"
)


class FakeFreeSwitch:
    """FreeSWITCH as the renewal path sees it: ESL replies and the certificate its TLS listener serves."""

    def __init__(self, served, calls: int = 0, reloadcert: bool = False, reload_works: bool = True):
        self.served, self.calls = served, calls
        self.young = False  # started less than 10 seconds ago: mod_sofia refuses the first restart
        self.reloadcert, self.reload_works = reloadcert, reload_works
        self.pending = None  # what agent.pem held when asked to reload
        self.commands: list[str] = []
        self.cert_dir = None

    def api(self, command: str) -> str:
        self.commands.append(command)
        if command == "sofia status":
            return SOFIA_STATUS.format(calls=self.calls)
        if command == "reloadcert":
            if not self.reloadcert:
                return "-ERR reloadcert Command not found!\n"
            if self.reload_works:
                self.served = self._agent()
            return "+OK cert reload event sent\n"
        if command == "sofia profile internal restart":
            if self.young:
                self.young = False
                return "Profile internal must be up for at least 10 seconds to stop/restart.\nPlease wait 3 seconds"
            self.calls = 0  # a restart hangs up every call on the profile
            self.served = self._agent()
            return "Reload XML [Success]\nrestarting: internal"
        raise AssertionError(f"unexpected command {command!r}")

    def probe(self, host: str, port: int):
        assert (host, port) == ("192.168.1.10", 5061)
        return self.served

    def _agent(self):
        return keys.read_certs(self.cert_dir / "agent.pem")[0]


@pytest.fixture
def exported(hierarchy, tmp_path):
    """Return (cert_dir, old record, new record): the old certificate served, the new one in agent.pem."""
    old = issue(hierarchy.store, "sip", NAMES, now=T0)
    new = issue(hierarchy.store, "sip", NAMES, now=T0 + timedelta(minutes=1))
    cert_dir = tmp_path / "tls"
    export_freeswitch(cert_dir, hierarchy.store, new.serial, now=T0)
    return cert_dir, old, new


def _fs(hierarchy, cert_dir, served_record, **kwargs) -> FakeFreeSwitch:
    fs = FakeFreeSwitch(hierarchy.store.issued(served_record.serial), **kwargs)
    fs.cert_dir = cert_dir
    return fs


def _pick_up(fs: FakeFreeSwitch, cert_dir, **kwargs):
    return sip.pick_up(fs.api, cert_dir, now=kwargs.pop("now", T0), probe=fs.probe, **kwargs)


def test_nothing_happens_when_freeswitch_serves_what_agent_pem_holds(hierarchy, exported):
    cert_dir, _old, new = exported
    fs = _fs(hierarchy, cert_dir, new, calls=2)
    assert _pick_up(fs, cert_dir) == [sip.PickUp("internal", "current", new.serial, new.serial)]
    assert fs.commands == ["sofia status"]


def test_an_idle_profile_is_restarted_when_freeswitch_cannot_reload(hierarchy, exported):
    cert_dir, old, new = exported
    fs = _fs(hierarchy, cert_dir, old)
    (done,) = _pick_up(fs, cert_dir)
    assert (done.action, done.served, done.wanted, done.reason) == ("restarted", old.serial, new.serial, "idle")
    assert fs.commands == ["sofia status", "reloadcert", "sofia status", "sofia profile internal restart"]


def test_a_busy_profile_keeps_its_certificate_until_it_is_idle(hierarchy, exported):
    cert_dir, old, new = exported
    fs = _fs(hierarchy, cert_dir, old, calls=2)
    (done,) = _pick_up(fs, cert_dir)
    assert (done.action, done.served, done.wanted) == ("deferred", old.serial, new.serial)
    assert "restart" not in " ".join(fs.commands)
    fs.calls = 0
    assert [p.action for p in _pick_up(fs, cert_dir)] == ["restarted"]


def test_waiting_for_an_idle_moment(hierarchy, exported, monkeypatch):
    cert_dir, old, _new = exported
    fs = _fs(hierarchy, cert_dir, old, calls=2)
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        fs.calls = 0  # the call ends while we wait

    monkeypatch.setattr(sip.time, "sleep", sleep)
    assert [p.action for p in _pick_up(fs, cert_dir, wait_idle=60)] == ["restarted"]
    assert polls


def test_freeswitchs_drop_free_reload_is_used_where_it_exists(hierarchy, exported):
    cert_dir, old, new = exported
    fs = _fs(hierarchy, cert_dir, old, calls=2, reloadcert=True)
    (done,) = _pick_up(fs, cert_dir)
    assert (done.action, done.wanted, done.reason) == ("reloaded", new.serial, "reloadcert")
    assert fs.calls == 2 and "restart" not in " ".join(fs.commands)


def test_reloadcert_without_sofia_support_falls_back(hierarchy, exported, monkeypatch):
    # FreeSWITCH answers +OK even when its Sofia-SIP lacks nua_reload_tls: only the listener tells.
    cert_dir, old, _new = exported
    monkeypatch.setattr(sip, "RELOADCERT_WAIT", 0.1)
    fs = _fs(hierarchy, cert_dir, old, calls=2, reloadcert=True, reload_works=False)
    assert [p.action for p in _pick_up(fs, cert_dir)] == ["deferred"]


@pytest.mark.parametrize(("days_left", "forced"), [(timedelta(hours=23), True), (timedelta(days=1, minutes=1), False)])
def test_a_certificate_about_to_expire_is_replaced_even_under_calls(hierarchy, exported, days_left, forced):
    cert_dir, old, _new = exported
    fs = _fs(hierarchy, cert_dir, old, calls=2)
    (done,) = _pick_up(fs, cert_dir, now=old.not_after - days_left)
    assert done.action == ("restarted" if forced else "deferred")
    assert ("expires" in done.reason) is forced


def test_a_revoked_certificate_is_replaced_even_under_calls(hierarchy, exported):
    cert_dir, old, _new = exported
    crl.revoke(hierarchy.store, old.serial, now=T0, reason="keyCompromise")
    fs = _fs(hierarchy, cert_dir, old, calls=2)
    (done,) = _pick_up(fs, cert_dir, revoked={old.serial})
    assert (done.action, done.reason) == ("restarted", f"certificate {old.serial} is revoked")


def test_forced(hierarchy, exported):
    cert_dir, old, _new = exported
    fs = _fs(hierarchy, cert_dir, old, calls=2)
    assert [(p.action, p.reason) for p in _pick_up(fs, cert_dir, force=True)] == [("restarted", "forced")]


def test_a_restart_that_does_not_bring_the_certificate_is_an_error(hierarchy, exported, monkeypatch):
    cert_dir, old, _new = exported
    monkeypatch.setattr(sip, "PICKUP_TIMEOUT", 0.1)
    fs = _fs(hierarchy, cert_dir, old)
    fs.probe = lambda host, port: None  # the profile came back without TLS (e.g. an unreadable agent.pem)
    with pytest.raises(PkiError, match="does not serve certificate"):
        _pick_up(fs, cert_dir)


def test_a_young_profile_is_restarted_after_freeswitchs_wait(hierarchy, exported, monkeypatch):
    cert_dir, old, _new = exported
    fs = _fs(hierarchy, cert_dir, old)
    fs.young = True
    slept = []
    monkeypatch.setattr(sip.time, "sleep", slept.append)
    assert [p.action for p in _pick_up(fs, cert_dir)] == ["restarted"]
    assert slept[0] == 3.5
    assert fs.commands.count("sofia profile internal restart") == 2


def test_tls_listeners_are_read_from_sofia_status():
    assert sip.tls_listeners(lambda _c: SOFIA_STATUS.format(calls=2)) == [
        sip.Listener("internal", "192.168.1.10", 5061, 2)
    ]
    ipv6 = SOFIA_STATUS.replace("192.168.1.10:5061", "[2001:db8::10]:5061").format(calls=0)
    assert sip.tls_listeners(lambda _c: ipv6) == [sip.Listener("internal", "2001:db8::10", 5061, 0)]


def test_sync_renews_a_due_certificate_and_exports_it(hierarchy, tmp_path):
    old = issue(hierarchy.store, "sip", NAMES, now=T0)
    cert_dir = tmp_path / "tls"
    export_freeswitch(cert_dir, hierarchy.store, now=T0)
    fs = _fs(hierarchy, cert_dir, old)
    not_due = sip.sync(hierarchy.store, cert_dir, fs.api, now=T0 + timedelta(days=19), probe=fs.probe)
    assert (not_due.serial, not_due.renewed_from, not_due.exported) == (old.serial, None, False)
    assert [p.action for p in not_due.listeners] == ["current"]

    due = sip.sync(hierarchy.store, cert_dir, fs.api, now=T0 + timedelta(days=20, minutes=1), probe=fs.probe)
    assert due.renewed_from == old.serial and due.exported and due.serial != old.serial
    assert sip.exported_serial(cert_dir) == due.serial
    assert [(p.action, p.wanted) for p in due.listeners] == [("restarted", due.serial)]
    assert hierarchy.store.load().find(old.serial).superseded_by == due.serial


def test_sync_issues_a_certificate_only_when_told_the_names(hierarchy, tmp_path):
    fs = FakeFreeSwitch(None)
    fs.cert_dir = tmp_path / "tls"
    with pytest.raises(PkiError, match="no valid sip certificate"):
        sip.sync(hierarchy.store, fs.cert_dir, fs.api, now=T0, probe=fs.probe)
    result = sip.sync(hierarchy.store, fs.cert_dir, fs.api, names=NAMES, now=T0, probe=fs.probe)
    assert result.issued and result.exported and [p.action for p in result.listeners] == ["restarted"]


def test_served_certificate_reads_what_a_tls_listener_presents(hierarchy, tmp_path):
    record = issue(hierarchy.store, "sip", NAMES, now=T0)
    cert_dir = export_freeswitch(tmp_path / "tls", hierarchy.store, now=T0)["agent"].parent
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_dir / "agent.pem")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        served = sip.served_certificate("127.0.0.1", port)
        thread.join(5)
    assert served is not None and served.serial_number == int(record.serial, 16)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    assert sip.served_certificate("127.0.0.1", port, timeout=1) is None
