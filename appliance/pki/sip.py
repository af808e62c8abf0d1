# SPDX-License-Identifier: GPL-3.0-or-later
"""Keep FreeSWITCH's SIP-TLS certificate current: renew it, export it, and have FreeSWITCH serve it.

FreeSWITCH reads agent.pem only when a TLS profile starts. What picks up a new file (docs/sip-tls.md):

- `reloadcert` (FreeSWITCH after 1.10.12, built against Sofia-SIP >= 1.13.18 with HAVE_NUA_RELOAD_TLS)
  swaps the TLS context: new connections get the new certificate, calls and connections stay up.
- `sofia profile <name> restart` works on every version but hangs up every call on the profile and
  closes its TLS connections (phones then register again). `reloadxml` and `rescan` do not reload it.

So: export, try `reloadcert`, and where the listener still serves the old certificate, restart the
profile only while it carries no call. A busy profile is left on the old certificate ("deferred") and
picked up by the next run, unless that certificate is revoked or about to expire: then it is restarted
anyway, because a listener serving it would be refused by every phone that connects.

Whether a listener serves the certificate in agent.pem is checked by connecting to it, so the state on
disk and the state FreeSWITCH serves are never confused and nothing has to be remembered between runs.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from appliance.pki import clock, keys, renewal
from appliance.pki.errors import PkiError
from appliance.pki.freeswitch import export_freeswitch
from appliance.pki.issue import issue
from appliance.pki.store import CaStore, serial_text

log = logging.getLogger(__name__)

Api = Callable[[str], str]  # one ESL `api` command in, FreeSWITCH's reply out
Probe = Callable[[str, int], x509.Certificate | None]

# A served certificate this close to its end is replaced even under calls: after it expires every
# phone that (re)connects is refused, which is worse than the calls a restart ends.
FORCE_BEFORE = timedelta(days=1)
PICKUP_TIMEOUT = 30.0  # seconds for a restarted listener to serve the new certificate
RELOADCERT_WAIT = 5.0  # seconds for `reloadcert` (asynchronous in Sofia-SIP) to show at the listener
IDLE_POLL = 2.0

# `sofia status`: "<name>\tprofile\t  sip:mod_sofia@127.0.0.1:5061\tRUNNING (2) (TLS)"; the number in
# brackets is the profile's in-use count, i.e. its call legs.
_TLS_LINE = re.compile(
    r"^\s*(?P<name>\S+)\s+profile\s+(?P<url>\S+)\s+(?P<state>RUNNING|DOWN) \((?P<inuse>\d+)\) \(TLS\)"
)
_URL_HOSTPORT = re.compile(r"@(?P<host>\[[^\]]+\]|[^:;>]+):(?P<port>\d+)")
_WAIT = re.compile(r"Please wait (?P<seconds>\d+) second")


@dataclass(frozen=True)
class Listener:
    """A running profile's TLS listener and how many call legs the profile carries."""

    profile: str
    host: str
    port: int
    calls: int


@dataclass(frozen=True)
class PickUp:
    """What happened at one listener: current, reloaded, restarted or deferred (and why)."""

    profile: str
    action: str
    served: str | None
    wanted: str
    reason: str = ""


@dataclass
class SipTls:
    """The outcome of `sync`: the certificate in agent.pem and what each TLS listener did."""

    serial: str
    renewed_from: str | None = None
    issued: bool = False
    exported: bool = False
    listeners: list[PickUp] = field(default_factory=list)

    @property
    def deferred(self) -> bool:
        return any(p.action == "deferred" for p in self.listeners)


def sync(
    store: CaStore,
    cert_dir: Path,
    api: Api,
    *,
    names: Iterable[str] = (),
    now: datetime | None = None,
    extra_ca: Iterable[Path] = (),
    crl_url: str | None = None,
    force: bool = False,
    wait_idle: float = 0.0,
    probe: Probe | None = None,
) -> SipTls:
    """Issue (with names) or renew the sip certificate when due, export it, and get FreeSWITCH to serve it."""
    now = clock.utc(now)
    record = store.load().current("sip", now)
    result = SipTls(serial="")
    if record is None:
        if not names:
            raise PkiError("no valid sip certificate; issue one: appliance pki issue --profile sip --name HOST")
        record = issue(store, "sip", names, now=now, crl_url=crl_url)
        result.issued = True
    elif now >= renewal.renew_after(record.not_before, record.not_after):
        result.renewed_from = record.serial
        record = renewal.renew(store, record.serial, now=now, crl_url=crl_url)
    result.serial = record.serial
    if exported_serial(cert_dir) != record.serial:
        export_freeswitch(cert_dir, store, record.serial, extra_ca=extra_ca, now=now)
        result.exported = True
    revoked = {r.serial for r in store.load().records if r.revoked_at is not None}
    result.listeners = pick_up(api, cert_dir, now=now, force=force, revoked=revoked, wait_idle=wait_idle, probe=probe)
    return result


def pick_up(
    api: Api,
    cert_dir: Path,
    *,
    now: datetime | None = None,
    force: bool = False,
    revoked: Iterable[str] = (),
    wait_idle: float = 0.0,
    probe: Probe | None = None,
) -> list[PickUp]:
    """Make every TLS listener serve agent.pem's certificate, restarting only idle profiles unless forced."""
    probe = probe or served_certificate
    now = clock.utc(now)
    wanted = exported_serial(cert_dir)
    if wanted is None:
        raise PkiError(f"{cert_dir}/agent.pem holds no certificate; run `appliance pki export-freeswitch`")
    revoked = {r.upper() for r in revoked}
    stale = {}
    done: list[PickUp] = []
    for listener in tls_listeners(api):
        served = probe(listener.host, listener.port)
        if _serial(served) == wanted:
            done.append(PickUp(listener.profile, "current", wanted, wanted))
        else:
            stale[listener.profile] = (listener, served)
    if not stale:
        return done
    if _reloadcert(api):
        for name in list(stale):
            listener, served = stale[name]
            if _await_serial(probe, listener, wanted, timeout=RELOADCERT_WAIT):
                done.append(PickUp(name, "reloaded", _serial(served), wanted, "reloadcert"))
                del stale[name]
    for name, (listener, served) in stale.items():
        reason = "forced" if force else _must_replace(served, revoked, now)
        # Count the calls again right before deciding: the window to a restart is then milliseconds.
        listener = _await_idle(api, listener, 0 if reason else wait_idle)
        if listener.calls and not reason:
            log.warning(
                "profile %s keeps serving certificate %s under %d call leg(s); %s waits for an idle moment",
                name,
                _serial(served),
                listener.calls,
                wanted,
            )
            done.append(PickUp(name, "deferred", _serial(served), wanted, f"{listener.calls} call leg(s) up"))
            continue
        if listener.calls:
            log.warning("restarting profile %s under %d call leg(s): %s", name, listener.calls, reason)
        _restart(api, name)
        if not _await_serial(probe, listener, wanted, timeout=PICKUP_TIMEOUT):
            raise PkiError(
                f"profile {name} was restarted but does not serve certificate {wanted}; see FreeSWITCH's log"
            )
        done.append(PickUp(name, "restarted", _serial(served), wanted, reason or "idle"))
    return done


def tls_listeners(api: Api) -> list[Listener]:
    """Return the TLS listeners of the running profiles, from `sofia status`."""
    listeners = []
    for line in api("sofia status").splitlines():
        m = _TLS_LINE.match(line)
        if not m or m["state"] != "RUNNING":
            continue
        where = _URL_HOSTPORT.search(m["url"])
        if where is None:
            raise PkiError(f"cannot read the TLS address of profile {m['name']} from {m['url']!r}")
        host = where["host"].strip("[]")
        listeners.append(Listener(m["name"], host, int(where["port"]), int(m["inuse"])))
    return listeners


def served_certificate(host: str, port: int, timeout: float = 5.0) -> x509.Certificate | None:
    """Return the certificate a TLS listener presents (not verified: this only compares), or None."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we read the certificate to compare it, we do not trust it
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=None) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        log.debug("no TLS certificate from %s:%s: %s", host, port, exc)
        return None
    return x509.load_der_x509_certificate(der) if der else None


def exported_serial(cert_dir: Path) -> str | None:
    """Return the serial of the certificate in cert_dir/agent.pem (the first one), or None."""
    path = Path(cert_dir) / "agent.pem"
    if not path.is_file():
        return None
    try:
        return serial_text(keys.read_certs(path)[0].serial_number)
    except (PkiError, ValueError, IndexError):
        return None


def _serial(cert: x509.Certificate | None) -> str | None:
    return serial_text(cert.serial_number) if cert is not None else None


def _must_replace(served: x509.Certificate | None, revoked: set[str], now: datetime) -> str:
    """Return why the served certificate must go even under calls, or '' when it may wait."""
    if served is None:
        return ""
    if _serial(served) in revoked:
        return f"certificate {_serial(served)} is revoked"
    if served.not_valid_after_utc - now <= FORCE_BEFORE:
        return f"certificate {_serial(served)} expires {served.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return ""


def _reloadcert(api: Api) -> bool:
    """Ask FreeSWITCH for its drop-free certificate reload; tell whether the command exists."""
    reply = api("reloadcert").strip()
    if reply.startswith("+OK"):
        log.info("FreeSWITCH accepted reloadcert: %s", reply)
        return True
    log.info("FreeSWITCH has no drop-free certificate reload (%s)", reply.splitlines()[0] if reply else "no reply")
    return False


def _restart(api: Api, profile: str) -> None:
    reply = api(f"sofia profile {profile} restart")
    wait = _WAIT.search(reply)
    if wait:
        # mod_sofia refuses to restart a profile that started less than 10 seconds ago.
        time.sleep(int(wait["seconds"]) + 0.5)
        reply = api(f"sofia profile {profile} restart")
    if "restarting:" not in reply:
        raise PkiError(f"FreeSWITCH did not restart profile {profile}: {reply.strip()}")
    log.info("restarted profile %s to load its new certificate", profile)


def _await_serial(probe: Probe, listener: Listener, wanted: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if _serial(probe(listener.host, listener.port)) == wanted:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _await_idle(api: Api, listener: Listener, timeout: float) -> Listener:
    """Return the profile's latest state, polling up to timeout seconds for it to carry no call."""
    deadline = time.monotonic() + timeout
    while True:
        listener = next((x for x in tls_listeners(api) if x.profile == listener.profile), listener)
        if not listener.calls or time.monotonic() >= deadline:
            return listener
        time.sleep(min(IDLE_POLL, max(0.0, deadline - time.monotonic())))
