# SPDX-License-Identifier: GPL-3.0-or-later
"""SIP over TLS and SRTP through the real FreeSWITCH, with certificates from the appliance's own CA.

Phones over TLS are played by tests.harness.siptls (Python's ssl module: this host's sipp has no TLS);
the callee is a plain-UDP sipp phone. Certificates are made at run time by appliance.pki on the real
clock (FreeSWITCH and the verifiers use it): the CA is backdated so that expired and due certificates
can be issued in the past.
"""

from __future__ import annotations

import re
import ssl
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import connect

from appliance.fsconf.contacts import SRTP_SUITES
from appliance.pki import crl, intermediate, sip
from appliance.pki.freeswitch import export_freeswitch
from appliance.pki.issue import issue
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore, CertRecord
from tests.conftest import new_database
from tests.harness.office import Office
from tests.harness.siptls import SRTP_SUITE, Dialog, SipMessage, SipTlsPhone, sdp_offer

NAMES = ["localhost", "127.0.0.1"]  # what the SIP certificate is for; phones connect to 127.0.0.1
NOW = datetime.now(UTC).replace(microsecond=0)
WEAK_TLS12_CIPHERS = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:AES128-SHA:AES256-SHA"


@dataclass
class Ca:
    """The fleet root and this appliance's intermediate (constrained to localhost and 127.0.0.0/8)."""

    store: CaStore
    root_pem: Path

    def context(self, *, crl_check: bool = False) -> ssl.SSLContext:
        """Return a phone's TLS context: trusts only the fleet root, optionally checks the CRL."""
        context = ssl.create_default_context(cafile=str(self.root_pem))
        if crl_check:
            context.load_verify_locations(cafile=str(self.store.crl_pem_path))
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context


class TlsOffice(Office):
    """The harness office with SIP over TLS on, its certificate from `ca`."""

    def __init__(self, workdir: Path, dsn: str, ca: Ca, sip_cert: CertRecord):
        super().__init__(workdir, dsn)
        self.site |= {"tls_enabled": True}
        self.ca = ca
        self.tls_phones: list[SipTlsPhone] = []
        export_freeswitch(self.cert_dir, ca.store, sip_cert.serial, now=NOW)

    @property
    def cert_dir(self) -> Path:
        return Path(self.cfg["freeswitch"]["cert_dir"])

    def tls_phone(self, username: str = "", context: ssl.SSLContext | None = None) -> SipTlsPhone:
        """Connect a phone over TLS (not registered yet); with no username, a bare TLS client."""
        password = self.account(username)[1] if username else ""
        phone = SipTlsPhone(
            self.ports["tls"], context or self.ca.context(), user=username, password=password, domain="office.test"
        )
        self.tls_phones.append(phone)
        return phone.connect()

    def served_serial(self) -> str:
        """Return the serial of the certificate a new TLS connection is shown (verified against the root)."""
        with SipTlsPhone(self.ports["tls"], self.ca.context()) as probe:
            return f"{probe.peer_certificate.serial_number:X}"

    def sync(self, **kwargs) -> sip.SipTls:
        """Run the renewal path exactly as the appliance does, against this FreeSWITCH."""
        return sip.sync(self.ca.store, self.cert_dir, self.esl, **kwargs)

    def close(self) -> None:
        for phone in self.tls_phones:
            phone.close()
        super().close()


def make_ca(base: Path) -> Ca:
    """Create a root and an installed intermediate, both backdated 60 days."""
    start = NOW - timedelta(days=60)
    root = create_root("Test Fleet Root CA", base / "hub", now=start)
    store = CaStore.appliance(base / "appliance")
    request = intermediate.create_request(store, "test appliance CA")
    signed = sign_intermediate(root, request, ["localhost"], ["127.0.0.0/8"], now=start)
    intermediate.install(store, signed, root.cert, now=start)
    crl.publish_crl(store, now=NOW)  # the one published at install ran out long ago
    return Ca(store, base / "hub" / "root.pem")


def _tls_office(
    pg_cluster, tmp_path_factory, name: str, sip_issued_at: datetime, days: int | None = None, tls_devices=()
):
    base = tmp_path_factory.mktemp(name)
    ca = make_ca(base)
    cert = issue(ca.store, "sip", NAMES, now=sip_issued_at, days=days)
    office = TlsOffice(base / "office", new_database(pg_cluster), ca, cert)
    office.populate()
    if tls_devices:  # before the configuration is rendered at start
        with connect(office.dsn, autocommit=True) as conn:
            conn.execute("UPDATE devices SET tls = true WHERE name = ANY(%s)", (list(tls_devices),))
    try:
        yield office.start()
    finally:
        office.close()


@pytest.fixture(scope="module")
def tls_office(pg_cluster, tmp_path_factory) -> Iterator[TlsOffice]:
    """A TLS office shared by the tests that leave its certificate and profile alone."""
    yield from _tls_office(pg_cluster, tmp_path_factory, "tls-office", NOW)


@pytest.fixture
def tls_device_office(pg_cluster, tmp_path_factory) -> Iterator[TlsOffice]:
    """A TLS office whose ATA is marked as registering over TLS: calls to its ports offer SRTP only."""
    yield from _tls_office(pg_cluster, tmp_path_factory, "tls-device-office", NOW, tls_devices=("ata1",))


@pytest.fixture
def due_office(pg_cluster, tmp_path_factory) -> Iterator[TlsOffice]:
    """A TLS office whose SIP certificate was issued 21 days ago: past two thirds, due for renewal."""
    yield from _tls_office(pg_cluster, tmp_path_factory, "due-office", NOW - timedelta(days=21))


@pytest.fixture
def expiring_office(pg_cluster, tmp_path_factory) -> Iterator[TlsOffice]:
    """A TLS office whose one-day SIP certificate, due for renewal, ends in about 4 hours."""
    yield from _tls_office(pg_cluster, tmp_path_factory, "expiring-office", NOW - timedelta(hours=20), days=1)


# -- helpers -----------------------------------------------------------------------------------------
def _callee(office: TlsOffice):
    """Start the plain-UDP sipp desk phone (extension 101) and wait until FreeSWITCH lists it."""
    desk = office.phone("desk101-1")
    assert "desk101-1" in office.registered_users({"desk101-1"})
    return desk


def _call(phone: SipTlsPhone, destination: str = "101", *, srtp: bool = True) -> Dialog | SipMessage:
    """Call from a TLS phone with an SRTP (SDES) or a plain RTP offer."""
    return phone.invite(destination, sdp_offer(phone.rtp.getsockname()[1], srtp=srtp))


def _answered(result) -> Dialog:
    assert isinstance(result, Dialog), result.text()
    return result


def _call_listed(office: TlsOffice, user: str, *details: str, timeout: float = 5) -> bool:
    """Tell whether `show channels` lists this TLS user's answered call (FreeSWITCH updates the list late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in office.esl("show channels").splitlines() if f"sofia/internal/{user}@office.test" in r]
        if rows and all(d in rows[0] for d in ("ACTIVE", *details)):
            return True
        time.sleep(0.2)
    return False


def _handshake_refused(office: TlsOffice, context: ssl.SSLContext) -> str:
    with pytest.raises(ssl.SSLError) as refused:
        SipTlsPhone(office.ports["tls"], context).connect().close()
    return str(refused.value)


def _legacy_client(*, version: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    """Return a client willing to speak what the server must refuse (OpenSSL's own floor lowered)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # refusing TLS 1.1 is the point of the test
        context.minimum_version = context.maximum_version = version
    return context


def _media_lines(message: SipMessage) -> list[str]:
    return re.findall(r"^m=[^\r\n]*", message.body, re.M)


def _port(message: SipMessage) -> str:
    return re.search(r"^m=audio (\d+)", message.body, re.M).group(1)


# -- (a) TLS 1.2+ only, strong ciphers only -----------------------------------------------------------
def test_a_phone_trusting_the_fleet_root_completes_the_handshake(tls_office):
    phone = tls_office.tls_phone()
    assert phone.tls_version in ("TLSv1.2", "TLSv1.3")
    assert phone.peer_certificate.subject.rfc4514_string() == "CN=localhost"
    tls12 = ssl.create_default_context(cafile=str(tls_office.ca.root_pem))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    name, _version, _bits = tls_office.tls_phone(context=tls12).tls_cipher
    assert name.startswith("ECDHE-ECDSA-") and ("GCM" in name or "CHACHA20" in name), name


def test_tls_1_1_and_weak_ciphers_are_refused_by_freeswitch(tls_office):
    old = _handshake_refused(tls_office, _legacy_client(version=ssl.TLSVersion.TLSv1_1, ciphers="ALL"))
    # "ALERT_": FreeSWITCH's alert, not this client declining by itself.
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in old, old
    weak = _handshake_refused(tls_office, _legacy_client(version=ssl.TLSVersion.TLSv1_2, ciphers=WEAK_TLS12_CIPHERS))
    assert "SSLV3_ALERT_HANDSHAKE_FAILURE" in weak, weak


def test_a_client_trusting_another_root_refuses_the_appliance(tls_office, tmp_path):
    stranger = make_ca(tmp_path)
    refused = _handshake_refused(tls_office, stranger.context())
    assert "CERTIFICATE_VERIFY_FAILED" in refused, refused


# -- (b) registration over TLS ------------------------------------------------------------------------
def test_a_phone_registers_over_tls(tls_office):
    phone = tls_office.tls_phone("ata1-1")
    assert phone.register().status == 200
    assert "ata1-1" in tls_office.registered_users({"ata1-1"})
    rows = [r for r in tls_office.esl("show registrations").splitlines() if r.startswith("ata1-1,")]
    assert rows and ",tls," in rows[0], rows


def test_wrong_credentials_over_tls_are_refused(tls_office):
    phone = tls_office.tls_phone("ata1-1")
    phone.password = "not-the-password"
    assert phone.register().status in (401, 403)


# -- (c) SRTP required over TLS, offered to everyone ----------------------------------------------------
def test_a_tls_call_without_srtp_is_refused_and_one_with_srtp_is_answered(tls_office):
    desk = _callee(tls_office)
    phone = tls_office.tls_phone("102")
    refused = _call(phone, srtp=False)
    assert not isinstance(refused, Dialog) and refused.status == 488, refused
    null_auth = phone.invite("101", sdp_offer(phone.rtp.getsockname()[1], srtp=True, suite="AES_CM_128_NULL_AUTH"))
    assert not isinstance(null_auth, Dialog) and null_auth.status == 488, null_auth

    dialog = _answered(_call(phone, srtp=True))
    assert _media_lines(dialog.answer) == [f"m=audio {_port(dialog.answer)} RTP/SAVP 0 101"]
    assert f"a=crypto:1 {SRTP_SUITE} inline:" in dialog.answer.body
    assert _call_listed(tls_office, "102", f"srtp:sdes:{SRTP_SUITE}"), tls_office.esl("show channels")
    assert dialog.bye().status == 200

    callee = desk.wait(timeout=30)
    assert callee.ok, callee.explain()
    invites = callee.received("INVITE")
    assert len(invites) == 1, "the refused calls must not have rung the callee"
    offer = invites[0].text
    # The plain-UDP callee is offered SRTP (RTP/SAVP first) but may still answer plain RTP.
    assert re.findall(r"^m=audio \d+ (\S+)", offer, re.M) == ["RTP/SAVP", "RTP/AVP"], offer
    assert re.findall(r"^a=crypto:\d+ (\S+)", offer, re.M) == ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]


def test_udp_phones_are_offered_srtp_and_may_answer_without_it(tls_office):
    desk = _callee(tls_office)
    call = tls_office.call("102", "101")  # a plain-UDP phone with a plain RTP offer
    assert call.ok, call.explain()
    answered = desk.wait(timeout=30)
    assert answered.ok, answered.explain()
    assert "RTP/SAVP" in answered.received("INVITE")[0].text


def test_calls_to_a_tls_device_offer_srtp_only(tls_device_office):
    """ata1 is marked TLS: FreeSWITCH's INVITE to its port offers RTP/SAVP alone, no plain-RTP fallback."""
    phone = tls_device_office.tls_phone("ata1-2")  # extension 103
    assert phone.register().status == 200
    assert "ata1-2" in tls_device_office.registered_users({"ata1-2"})
    tls_device_office.call("101", "103", expect_ok=False)  # the test phone's bare 200 ends the call at once
    invites = phone.received("INVITE")
    assert invites, phone.transcript()
    offer = invites[0].body
    assert re.findall(r"^m=audio \d+ (\S+)", offer, re.M) == ["RTP/SAVP"], offer
    assert re.findall(r"^a=crypto:\d+ (\S+)", offer, re.M) == list(SRTP_SUITES), offer


# -- (d) expired and revoked certificates are refused --------------------------------------------------
def test_an_expired_certificate_served_by_freeswitch_is_refused(due_office):
    ca = due_office.ca
    expired = issue(ca.store, "sip", NAMES, now=NOW - timedelta(days=10), days=1)
    export_freeswitch(due_office.cert_dir, ca.store, expired.serial, now=NOW)
    picked = sip.pick_up(due_office.esl, due_office.cert_dir, now=NOW)
    assert [(p.profile, p.action) for p in picked] == [("internal", "restarted")]
    refused = _handshake_refused(due_office, ca.context())
    assert "certificate has expired" in refused, refused


def test_a_revoked_certificate_is_refused_by_a_phone_checking_the_crl_and_replaced(due_office):
    ca = due_office.ca
    served = due_office.served_serial()
    assert due_office.tls_phone(context=ca.context(crl_check=True))  # not revoked yet: accepted
    crl.revoke(ca.store, served, now=NOW, reason="keyCompromise")
    refused = _handshake_refused(due_office, ca.context(crl_check=True))
    assert "certificate revoked" in refused, refused

    # The renewal path never keeps a revoked certificate: it issues a new one and restarts the profile.
    result = due_office.sync(names=NAMES, now=NOW)
    assert result.issued and result.exported
    assert [(p.profile, p.action) for p in result.listeners] == [("internal", "restarted")]
    assert due_office.tls_phone(context=ca.context(crl_check=True)).peer_certificate.serial_number == int(
        result.serial, 16
    )


# -- (e) renewal under a live TLS call -------------------------------------------------------------------
def test_renewal_under_a_live_tls_call_keeps_the_call_up(due_office):
    desk = _callee(due_office)
    phone = due_office.tls_phone("102")
    assert phone.register().status == 200
    old = due_office.served_serial()
    dialog = _answered(_call(phone))
    assert _call_listed(due_office, "102")

    result = due_office.sync(now=NOW)
    assert result.renewed_from == old and result.exported and result.serial != old
    (internal,) = result.listeners
    # FreeSWITCH with a drop-free reload serves the new certificate at once; 1.10.12 has none, and its
    # only way (a profile restart) would end this call, so the listener keeps the old one for now.
    assert internal.action in ("reloaded", "deferred"), internal
    assert due_office.served_serial() == (result.serial if internal.action == "reloaded" else old)

    # The call is up: in-dialog requests over the same TLS connection are answered, FreeSWITCH lists it.
    assert dialog.request("OPTIONS").status == 200
    assert dialog.request("INFO", "Signal=5\r\nDuration=160\r\n", "application/dtmf-relay").status == 200
    assert _call_listed(due_office, "102")
    assert dialog.terminated_by is None and not phone.closed.is_set()
    assert desk.proc.poll() is None, "the callee saw the call end"
    assert dialog.bye().status == 200
    assert desk.wait(timeout=30).ok

    # Once the profile is idle, the next run makes FreeSWITCH serve the renewed certificate.
    again = due_office.sync(now=NOW, wait_idle=15)
    assert [(p.action, p.wanted) for p in again.listeners] in (
        [("restarted", result.serial)],
        [("current", result.serial)],
    )
    assert due_office.served_serial() == result.serial
    fresh = due_office.tls_phone("102")
    assert fresh.register().status == 200


def test_a_certificate_about_to_expire_is_replaced_even_under_a_call(expiring_office):
    # The one case where the renewal path ends calls on 1.10.12: the old certificate would expire before
    # an idle moment, after which every phone that connects would refuse it. This also shows what a
    # profile restart does to a live TLS call.
    desk = _callee(expiring_office)
    phone = expiring_office.tls_phone("102")
    dialog = _answered(_call(phone))
    assert _call_listed(expiring_office, "102")

    result = expiring_office.sync(now=NOW)
    (internal,) = result.listeners
    if internal.action == "reloaded":
        pytest.skip("this FreeSWITCH reloads certificates without a restart: nothing is dropped")
    assert internal.action == "restarted" and "expires" in internal.reason, internal
    assert expiring_office.served_serial() == result.serial
    deadline = time.monotonic() + 10
    while dialog.terminated_by is None and not phone.closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dialog.terminated_by is not None or phone.closed.is_set(), "the restart did not end the TLS call"
    assert desk.wait(timeout=30).received("BYE"), "the UDP callee's leg was not hung up"


# -- (f) provisioning: the phone's profile carries the root it then trusts ------------------------------
def test_a_provisioned_phone_trusts_only_the_root_it_was_given_and_registers_and_calls(tls_office, tmp_path):
    """Fetch ata1's profile from the console with its own account; use nothing else to reach FreeSWITCH."""
    from appliance.console import create_app
    from tests.console.conftest import FakeClock, console_config

    with connect(tls_office.dsn, autocommit=True) as conn:
        conn.execute("UPDATE devices SET mac = '00:0b:82:01:02:03', tls = true WHERE name = 'ata1'")
    config = console_config(tls_office.dsn, FakeClock(NOW))
    config["APPLIANCE_CONFIG"]["pki"]["dir"] = str(tls_office.ca.store.dir)
    username, password = tls_office.account("ata1-1")
    fetched = (
        create_app(config)
        .test_client()
        .get("/provision/000b82010203.json", base_url="https://localhost", auth=(username, password))
    )
    assert fetched.status_code == 200, fetched.data
    profile = fetched.get_json()
    assert (profile["server"], profile["transport"], profile["srtp"]) == ("127.0.0.1", "tls", "mandatory")
    root = tmp_path / "provisioned-root.pem"
    root.write_text(profile["root_pem"])
    account = profile["accounts"][0]
    phone = SipTlsPhone(
        profile["port"], ssl.create_default_context(cafile=str(root)),
        user=account["username"], password=account["password"], domain=profile["domain"],
    )  # fmt: skip
    tls_office.tls_phones.append(phone)
    assert phone.connect().register().status == 200
    desk = _callee(tls_office)
    dialog = _answered(_call(phone, srtp=profile["srtp"] == "mandatory"))
    assert f"a=crypto:1 {SRTP_SUITE} inline:" in dialog.answer.body
    assert dialog.bye().status == 200
    assert desk.wait(timeout=30).ok
