# SPDX-License-Identifier: GPL-3.0-or-later
"""A CA directory: its certificate and key, the certificates it issued and an index of them.

The same layout serves the fleet root (on the hub) and an appliance's intermediate (on the data
volume); only the CA's file names differ (`root.*` or `intermediate.*`):

    <ca>.pem  <ca>.key (0600)   the CA itself
    root.pem                    the fleet root (the trust anchor)
    request/                    the appliance's pending intermediate key and CSR (0700)
    index.json                  every certificate issued: serial, profile, subject, names, dates, revocation
    issued/<SERIAL>.pem         each issued certificate
    private/<SERIAL>.key        each key the CA made for a certificate (0700 directory, 0600 files)
    public/                     what may be published: root.pem, chain.pem, <ca>.crl (DER), <ca>.crl.pem

The index is a JSON file, not a database table, because the CA must work before PostgreSQL does (the
console's HTTPS certificate is needed to set the appliance up).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from appliance import files
from appliance.pki import keys
from appliance.pki.errors import PkiError

INDEX_VERSION = 1


def serial_text(serial: int) -> str:
    """Return a serial number the way the index and `openssl x509 -serial` write it (hex, upper case)."""
    return f"{serial:X}"


def parse_serial(text: str) -> int:
    """Return the serial number written in hex (colons and a 0x prefix allowed)."""
    cleaned = text.strip().replace(":", "").lower().removeprefix("0x")
    try:
        return int(cleaned, 16)
    except ValueError:
        raise PkiError(f"{text!r} is not a serial number (hex digits, as `appliance pki list` shows)") from None


@dataclass
class CertRecord:
    """One issued certificate as the index knows it."""

    serial: str
    profile: str
    subject: str
    names: list[str]
    not_before: datetime
    not_after: datetime
    key_held: bool = True
    revoked_at: datetime | None = None
    reason: str | None = None
    superseded_by: str | None = None
    renewal_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready values."""
        out = dataclasses.asdict(self)
        for name in ("not_before", "not_after", "revoked_at"):
            out[name] = out[name].isoformat() if out[name] else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertRecord:
        """Return the record the index stored."""
        data = dict(data)
        for name in ("not_before", "not_after", "revoked_at"):
            data[name] = datetime.fromisoformat(data[name]) if data.get(name) else None
        return cls(**data)


@dataclass
class Index:
    """The index file's contents."""

    records: list[CertRecord] = field(default_factory=list)
    crl_number: int = 0

    def find(self, serial: str | int) -> CertRecord:
        """Return the record with this serial or refuse, saying where to look."""
        number = serial if isinstance(serial, int) else parse_serial(serial)
        for record in self.records:
            if int(record.serial, 16) == number:
                return record
        raise PkiError(
            f"no certificate with serial {serial_text(number)} in this CA's index (see `appliance pki list`)"
        )

    def current(self, profile: str, now: datetime) -> CertRecord | None:
        """Return the newest certificate of a profile that is neither revoked, renewed nor expired."""
        live = [
            r
            for r in self.records
            if r.profile == profile and r.revoked_at is None and not r.superseded_by and r.not_after > now
        ]
        return max(live, key=lambda r: r.not_before, default=None)


class CaStore:
    """A CA directory (see the module's docstring for its layout)."""

    def __init__(self, directory: Path, kind: str):
        if kind not in ("root", "intermediate"):
            raise ValueError(kind)
        self.dir = Path(directory)
        self.kind = kind
        self._lock_depth = 0
        self._lock_fd: int | None = None

    @classmethod
    def root(cls, directory: Path) -> CaStore:
        """Return the fleet root's directory."""
        return cls(directory, "root")

    @classmethod
    def appliance(cls, directory: Path) -> CaStore:
        """Return an appliance's CA directory (its intermediate)."""
        return cls(directory, "intermediate")

    # -- paths -----------------------------------------------------------------------------------

    @property
    def cert_path(self) -> Path:
        return self.dir / f"{self.kind}.pem"

    @property
    def key_path(self) -> Path:
        return self.dir / f"{self.kind}.key"

    @property
    def root_path(self) -> Path:
        return self.dir / "root.pem"

    @property
    def request_dir(self) -> Path:
        return self.dir / "request"

    @property
    def public_dir(self) -> Path:
        return self.dir / "public"

    @property
    def crl_path(self) -> Path:
        return self.public_dir / f"{self.kind}.crl"

    @property
    def crl_pem_path(self) -> Path:
        return self.public_dir / f"{self.kind}.crl.pem"

    @property
    def chain_path(self) -> Path:
        return self.public_dir / "chain.pem"

    def issued_path(self, serial: str) -> Path:
        return self.dir / "issued" / f"{serial}.pem"

    def private_key_path(self, serial: str) -> Path:
        return self.dir / "private" / f"{serial}.key"

    # -- the CA itself ---------------------------------------------------------------------------

    def ca_cert(self) -> x509.Certificate:
        """Return the CA's certificate, or say how to set the CA up."""
        if not self.cert_path.exists():
            raise PkiError(f"{self.cert_path}: no {self.kind} CA here; {self._setup_hint()}")
        return keys.read_cert(self.cert_path)

    def ca_key(self, passphrase: bytes | None = None) -> keys.PrivateKey:
        """Return the CA's private key."""
        if not self.key_path.exists():
            raise PkiError(f"{self.key_path}: no {self.kind} CA key here; {self._setup_hint()}")
        return keys.read_key(self.key_path, passphrase)

    def root_cert(self) -> x509.Certificate:
        """Return the fleet root certificate (the trust anchor)."""
        if not self.root_path.exists():
            raise PkiError(f"{self.root_path}: the fleet root certificate is missing; {self._setup_hint()}")
        return keys.read_cert(self.root_path)

    def _setup_hint(self) -> str:
        if self.kind == "root":
            return "create it with `appliance pki init-root` or give the right --root-dir"
        return (
            "run `appliance pki create-intermediate-request`, have the hub sign it "
            "(`appliance pki sign-intermediate`), then `appliance pki install-intermediate`"
        )

    # -- the index -------------------------------------------------------------------------------

    def load(self) -> Index:
        """Return the index (empty if nothing was issued yet)."""
        path = self.dir / "index.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Index()
        except json.JSONDecodeError as exc:
            raise PkiError(f"{path}: damaged index ({exc}); restore it from a backup") from None
        if data.get("version") != INDEX_VERSION:
            raise PkiError(f"{path}: index version {data.get('version')!r}, this code reads {INDEX_VERSION}")
        return Index([CertRecord.from_json(r) for r in data["certificates"]], int(data.get("crl_number", 0)))

    def save(self, index: Index) -> None:
        """Write the index atomically."""
        data = {
            "version": INDEX_VERSION,
            "crl_number": index.crl_number,
            "certificates": [r.to_json() for r in index.records],
        }
        files.write_atomic(self.dir / "index.json", (json.dumps(data, indent=2) + "\n").encode(), 0o644)

    @contextmanager
    def transaction(self) -> Iterator[Index]:
        """Lock the CA, yield its index and save it if the block succeeds (reentrant in one process)."""
        with self.locked():
            index = self.load()
            yield index
            self.save(index)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the CA's lock, so a timer and an admin never issue or revoke at the same moment."""
        if self._lock_depth == 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- issued certificates ---------------------------------------------------------------------

    def record(self, cert: x509.Certificate, profile: str, names: list[str], key: keys.PrivateKey | None) -> CertRecord:
        """Store an issued certificate (and the key the CA made for it); return its index record."""
        serial = serial_text(cert.serial_number)
        files.write_atomic(self.issued_path(serial), keys.cert_pem(cert), 0o644)
        if key is not None:
            files.private_dir(self.private_key_path(serial).parent)
            keys.write_key(self.private_key_path(serial), key)
        return CertRecord(
            serial=serial,
            profile=profile,
            subject=cert.subject.rfc4514_string(),
            names=names,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            key_held=key is not None,
        )

    def issued(self, serial: str) -> x509.Certificate:
        """Return an issued certificate."""
        return keys.read_cert(self.issued_path(serial))

    def issued_key(self, serial: str) -> keys.PrivateKey:
        """Return the key the CA made for an issued certificate."""
        path = self.private_key_path(serial)
        if not path.exists():
            raise PkiError(f"certificate {serial}: its key is not held here (it was issued for a request)")
        return keys.read_key(path)
