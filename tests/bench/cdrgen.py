# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate an office's CDRs fast (COPY): ~90 days, office hours and weekdays, real-looking numbers.

The shape follows a 40-extension office: most calls on weekdays between 8 and 18 h with peaks in the
late morning and afternoon, inbound calls to a dozen DIDs (six with a tracking tag) from a pool of
repeat callers, outbound calls to a pool of customers and suppliers, internal calls between
extensions, and FreeSWITCH's usual hangup causes. Each row carries a `variables` document of the size
the listener keeps (about 600 bytes), so the table is as wide as the real one.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

EXTENSIONS = [str(n) for n in range(100, 140)]
DIDS = [f"+49301234560{i:02d}" for i in range(12)]
TAGS = {DIDS[i]: tag for i, tag in enumerate(("main", "spring-flyer", "google-ads", "radio", "website", "newsletter"))}
TRUNKS = ("carrier", "carrier-backup")
ROUTES = ("national", "mobile", "international")
# (call_type, share)
CALL_TYPES = (("inbound", 45), ("outbound", 35), ("internal", 19), ("unknown", 1))
# (hangup_cause, sip status, answered?, share)
OUTCOMES = (
    ("NORMAL_CLEARING", "200", True, 70),
    ("NO_ANSWER", "480", False, 12),
    ("ORIGINATOR_CANCEL", "487", False, 8),
    ("USER_BUSY", "486", False, 6),
    ("CALL_REJECTED", "603", False, 2),
    ("NO_ROUTE_DESTINATION", "404", False, 1),
    ("NORMAL_TEMPORARY_FAILURE", "503", False, 1),
)
# Relative call volume per hour of the day (UTC; the office is near it) and per weekday (Monday first).
HOURLY = (0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.6, 2, 6, 10, 12, 11, 8, 9, 11, 10, 8, 5, 2, 1, 0.6, 0.4, 0.3, 0.2)
WEEKDAY = (1.0, 1.0, 0.95, 0.95, 0.85, 0.2, 0.08)
COPY_COLUMNS = (
    "uuid",
    "call_type",
    "caller_number",
    "caller_name",
    "destination",
    "context",
    "extension",
    "trunk",
    "route",
    "did",
    "tracking_tag",
    "outbound_caller_id",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "billsec",
    "hangup_cause",
    "sip_hangup_status",
    "variables",
)
_FIRST = ("Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas", "Lena", "Max")
_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann")


def _people(rng: random.Random, count: int, prefix: str) -> list[str]:
    return [f"{prefix}{rng.randrange(10**7, 10**8)}" for _ in range(count)]


def _hour_weights(end: datetime, days: int) -> tuple[list[datetime], list[float]]:
    """Return every hour of the period and its relative call volume."""
    start = end - timedelta(days=days)
    hours, weights = [], []
    at = start.replace(minute=0, second=0, microsecond=0)
    while at < end:
        hours.append(at)
        weights.append(HOURLY[at.hour] * WEEKDAY[at.weekday()])
        at += timedelta(hours=1)
    return hours, weights


_AGENTS = ("Yealink SIP-T46U 108.86.0.45", "snom D785/10.1.159.12", "Grandstream HT802")
_DISPOSITIONS = ("send_bye", "recv_bye", "send_cancel", "recv_cancel")


def _variables(rng: random.Random, call_uuid: str, caller: str, dest: str, answered: bool, trunk: str) -> str:
    """Return a `variables` document like the listener keeps (every value is JSON-safe as written)."""
    bridge = f"sofia/gateway/{trunk}/{dest}" if trunk else f"user/{dest}"
    mos = f"{rng.uniform(3.9, 4.5):.2f}" if answered else ""
    ip = f"192.0.2.{rng.randrange(2, 250)}"
    return (
        f'{{"sip_call_id":"{rng.getrandbits(128):032x}@{ip}","sip_user_agent":"{rng.choice(_AGENTS)}",'
        f'"sip_from_user":"{caller}","sip_to_user":"{dest}","sip_network_ip":"{ip}",'
        f'"sip_hangup_disposition":"{rng.choice(_DISPOSITIONS)}","hangup_cause_q850":"{16 if answered else 19}",'
        f'"endpoint_disposition":"{"ANSWER" if answered else "NO ANSWER"}","last_app":"bridge",'
        f'"last_arg":"{bridge}","read_codec":"PCMA","write_codec":"PCMA","rtp_audio_in_mos":"{mos}",'
        f'"channel_name":"sofia/internal/{caller}@192.0.2.1","core_uuid":"6b1a5e3c-59f5-4b1e-9d7e-4f3a2b1c0d9e",'
        f'"hostname":"pbx1","appliance_call_uuid":"{call_uuid}"}}'
    )


def _escape(value: str) -> str:
    """Escape a value for COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def rows(count: int, end: datetime, days: int = 90, seed: int = 6) -> Iterator[tuple[str, ...]]:
    """Yield count CDRs (as COPY text fields) over the days before end."""
    rng = random.Random(seed)
    hours, weights = _hour_weights(end, days)
    callers = _people(rng, 40_000, "+49170")
    customers = _people(rng, 25_000, "030")
    names = [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(500)]
    ext_weights = [1 / (i + 1) ** 0.8 for i in range(len(EXTENSIONS))]
    did_weights = [1 / (i + 1) for i in range(len(DIDS))]
    types = [t for t, _ in CALL_TYPES]
    type_weights = [w for _, w in CALL_TYPES]
    outcome_weights = [o[3] for o in OUTCOMES]
    # Oldest first, as the writer inserts them: the table's physical order follows started_at.
    all_slots = sorted(rng.choices(range(len(hours)), weights, k=count))
    chunk = 10_000
    for done in range(0, count, chunk):
        n = min(chunk, count - done)
        # Drawn a chunk at a time: one choices() call per column instead of one per row.
        slots = [hours[i] for i in all_slots[done : done + n]]
        kinds = rng.choices(types, type_weights, k=n)
        outcomes = rng.choices(OUTCOMES, outcome_weights, k=n)
        exts = rng.choices(EXTENSIONS, ext_weights, k=n)
        dids = rng.choices(DIDS, did_weights, k=n)
        for hour, call_type, outcome, ext, inbound_did in zip(slots, kinds, outcomes, exts, dids, strict=True):
            started = hour + timedelta(seconds=rng.random() * 3600)
            if started >= end:
                started = end - timedelta(seconds=rng.random() * 60)
            cause, status, answered, _ = outcome
            did = tag = trunk = route = cid = name = ""
            if call_type == "inbound":
                caller = callers[int(rng.paretovariate(1.2)) % len(callers)]
                did = inbound_did
                tag = TAGS.get(did, "")
                dest, trunk, name = did, rng.choice(TRUNKS), rng.choice(names) if rng.random() < 0.3 else ""
            elif call_type == "outbound":
                caller, dest = ext, customers[int(rng.paretovariate(1.1)) % len(customers)]
                trunk, route, cid = TRUNKS[0], rng.choice(ROUTES), DIDS[0]
            elif call_type == "internal":
                caller, dest = ext, rng.choice(EXTENSIONS)
            else:
                caller, dest, ext = rng.choice(callers), rng.choice(("*97", "9999", "")), ""
            ring = rng.uniform(1.5, 25.0)
            billsec = int(rng.expovariate(1 / 180)) + 1 if answered else 0
            answered_at = started + timedelta(seconds=ring) if answered else None
            ended = started + timedelta(seconds=ring + billsec)
            call_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            context = "public" if call_type == "inbound" else "default"
            yield (
                call_uuid,
                call_type,
                caller,
                _escape(name),
                dest,
                context,
                ext,
                trunk,
                route,
                did,
                tag,
                cid,
                started.isoformat(),
                answered_at.isoformat() if answered_at else "\\N",
                ended.isoformat(),
                str(int(ring) + billsec),
                str(billsec),
                cause,
                status,
                _escape(_variables(rng, call_uuid, caller, dest, answered, trunk)),
            )


def load(conn: psycopg.Connection, count: int, end: datetime, days: int = 90) -> None:
    """COPY count generated CDRs into cdrs, building its indexes once afterwards (as a restore would)."""
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cdrs' AND indexname <> 'cdrs_pkey'"
    ).fetchall()
    with conn.transaction():
        for row in indexes:
            conn.execute(f'DROP INDEX "{row["indexname"]}"')
        with conn.cursor().copy(f"COPY cdrs ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            lines = []
            for fields in rows(count, end, days):
                lines.append("\t".join(fields))
                if len(lines) == 5000:
                    copy.write("\n".join(lines) + "\n")
                    lines.clear()
            if lines:
                copy.write("\n".join(lines) + "\n")
        for row in indexes:
            conn.execute(row["indexdef"])
    conn.execute("VACUUM ANALYZE cdrs")


def now_hour() -> datetime:
    """Return the current time; the generated calls end just before it."""
    return datetime.now(UTC).replace(microsecond=0)
