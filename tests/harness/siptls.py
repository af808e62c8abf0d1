# SPDX-License-Identifier: GPL-3.0-or-later
"""A SIP phone over TLS, written with Python's ssl module (this host's sipp is built without TLS).

It registers and places calls answering FreeSWITCH's digest challenge, keeps its TLS connection open for
the whole call (as a real TLS phone does: in-dialog requests and FreeSWITCH's BYE use that connection),
answers FreeSWITCH's own requests, and records every message that crossed the wire.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import queue
import re
import secrets
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from cryptography import x509

log = logging.getLogger(__name__)

SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"
_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


@dataclass
class SipMessage:
    """One SIP message: its first line, headers (in order) and body."""

    first_line: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first_line.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        return self.header("CSeq").split()[-1] if self.is_response else self.first_line.split()[0]

    def header(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def tag(self, name: str) -> str:
        m = re.search(r";\s*tag=([^;>\s]+)", self.header(name))
        return m.group(1) if m else ""

    def text(self) -> str:
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        return f"{self.first_line}\r\n{head}\r\n{self.body}"


def sdp_offer(rtp_port: int, *, srtp: bool, suite: str = SRTP_SUITE) -> str:
    """Return an audio offer (PCMU + telephone-event): RTP/SAVP with an SDES key, or plain RTP/AVP."""
    lines = [
        "v=0",
        f"o=- {secrets.randbelow(10**9)} 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {rtp_port} {'RTP/SAVP' if srtp else 'RTP/AVP'} 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
    ]
    if srtp:
        # SDES (RFC 4568): 16-byte master key + 14-byte salt, base64.
        lines.append(f"a=crypto:1 {suite} inline:{base64.b64encode(os.urandom(30)).decode()}")
    lines.append("a=sendrecv")
    return "\r\n".join(lines) + "\r\n"


class SipTlsError(RuntimeError):
    """The exchange did not go as a phone expects (no answer, connection closed)."""


@dataclass
class Dialog:
    """An established call: what an in-dialog request needs."""

    phone: SipTlsPhone
    call_id: str
    local_tag: str
    remote_tag: str
    remote_target: str
    to_uri: str
    cseq: int
    answer: SipMessage
    terminated_by: SipMessage | None = field(default=None)

    def request(self, method: str, body: str = "", content_type: str = "", timeout: float = 10) -> SipMessage:
        """Send one in-dialog request over the call's TLS connection; return the final response."""
        self.cseq += 1
        extra = [("Content-Type", content_type)] if body else []
        return self.phone.transaction(
            method,
            self.remote_target,
            call_id=self.call_id,
            cseq=self.cseq,
            from_tag=self.local_tag,
            to_uri=self.to_uri,
            to_tag=self.remote_tag,
            body=body,
            extra=extra,
            timeout=timeout,
        )

    def bye(self) -> SipMessage:
        return self.request("BYE")


class SipTlsPhone:
    """A phone registered as `user` over one TLS connection; `close()` ends it."""

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext,
        *,
        user: str = "",
        password: str = "",
        domain: str = "",
        host: str = "127.0.0.1",
        server_hostname: str = "localhost",
    ):
        self.host, self.port, self.context, self.server_hostname = host, port, context, server_hostname
        self.user, self.password, self.domain = user, password, domain or host
        self.sock: ssl.SSLSocket | None = None
        self.peer_der = b""
        self.tls_version: str | None = None
        self.tls_cipher: tuple[str, str, int] | None = None
        self.local_port = 0
        self.messages: list[tuple[str, SipMessage]] = []  # ("sent"|"received", message)
        self.requests: queue.Queue[SipMessage] = queue.Queue()  # requests FreeSWITCH sent us
        self._responses: queue.Queue[SipMessage] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.closed = threading.Event()
        self.dialogs: dict[str, Dialog] = {}
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a real port for the SDP to name
        self.rtp.bind(("127.0.0.1", 0))

    # -- connection --------------------------------------------------------------------------------
    def connect(self, timeout: float = 10) -> SipTlsPhone:
        """Open the TLS connection (the handshake verifies FreeSWITCH as self.context says)."""
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=self.server_hostname)
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(None)
        # Read these now: once the reader thread runs, OpenSSL may be busy with TLS 1.3 session tickets.
        self.peer_der = self.sock.getpeercert(binary_form=True)
        self.tls_version, self.tls_cipher = self.sock.version(), self.sock.cipher()
        self.local_port = self.sock.getsockname()[1]
        self._reader = threading.Thread(target=self._read_loop, name=f"siptls-{self.local_port}", daemon=True)
        self._reader.start()
        return self

    @property
    def peer_certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.peer_der)

    def close(self) -> None:
        if self.sock is not None:
            with self._lock, contextlib.suppress(OSError):
                self.sock.close()
        self.rtp.close()

    def __enter__(self) -> SipTlsPhone:
        return self if self.sock else self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what a phone does -------------------------------------------------------------------------
    def register(self, expires: int = 600) -> SipMessage:
        """Register this connection's contact; return the final response (200 when accepted)."""
        aor = f"sip:{self.user}@{self.domain}"
        call_id = self._new_id()
        contact = [("Contact", f"<{self._contact()}>"), ("Expires", str(expires))]
        response = self.transaction(
            "REGISTER", f"sip:{self.domain}", call_id=call_id, cseq=1, to_uri=aor, extra=contact
        )
        if response.status in (401, 407):
            auth = self._authorization(response, "REGISTER", f"sip:{self.domain}")
            response = self.transaction(
                "REGISTER", f"sip:{self.domain}", call_id=call_id, cseq=2, to_uri=aor, extra=[*contact, auth]
            )
        return response

    def options(self) -> SipMessage:
        """Send an out-of-dialog OPTIONS (a keepalive); return the response."""
        return self.transaction("OPTIONS", f"sip:{self.domain}", call_id=self._new_id(), cseq=1)

    def invite(self, destination: str, sdp: str, timeout: float = 30) -> Dialog | SipMessage:
        """Call destination with the SDP offer; return the Dialog when answered, else the final response."""
        uri = f"sip:{destination}@{self.domain}"
        call_id, from_tag = self._new_id(), self._new_id()
        body = {"body": sdp, "extra": [("Content-Type", "application/sdp")]}
        common = {"call_id": call_id, "from_tag": from_tag, "to_uri": uri, "timeout": timeout}
        response = self.transaction("INVITE", uri, cseq=1, **common, **body)
        cseq = 1
        if response.status in (401, 407):
            self._ack(uri, response, cseq, from_tag)
            cseq = 2
            auth = self._authorization(response, "INVITE", uri)
            body["extra"] = [*body["extra"], auth]
            response = self.transaction("INVITE", uri, cseq=cseq, **common, **body)
        if response.status != 200:
            if response.status >= 300:
                self._ack(uri, response, cseq, from_tag)
            return response
        target = re.search(r"<([^>]+)>", response.header("Contact")) or re.search(r"(\S+)", response.header("Contact"))
        assert target is not None, response.text()
        dialog = Dialog(self, call_id, from_tag, response.tag("To"), target.group(1), uri, cseq, response)
        self._send_request("ACK", dialog.remote_target, call_id, cseq, from_tag, uri, dialog.remote_tag)
        self.dialogs[call_id] = dialog
        return dialog

    # -- transactions ------------------------------------------------------------------------------
    def transaction(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        cseq: int,
        from_tag: str | None = None,
        to_uri: str | None = None,
        to_tag: str = "",
        body: str = "",
        extra: list[tuple[str, str]] | None = None,
        timeout: float = 10,
    ) -> SipMessage:
        """Send a request and return its final response (provisional ones are recorded and skipped)."""
        branch = self._send_request(method, uri, call_id, cseq, from_tag, to_uri, to_tag, body, extra)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SipTlsError(f"no final response to {method} {uri} within {timeout}s:\n{self.transcript()}")
            try:
                response = self._responses.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.closed.is_set():
                    raise SipTlsError(f"connection closed while waiting for the answer to {method}") from None
                continue
            if branch in response.header("Via") and response.status >= 200:
                return response

    def _send_request(
        self,
        method: str,
        uri: str,
        call_id: str,
        cseq: int,
        from_tag: str | None = None,
        to_uri: str | None = None,
        to_tag: str = "",
        body: str = "",
        extra: list[tuple[str, str]] | None = None,
        branch: str | None = None,
    ) -> str:
        branch = branch or "z9hG4bK" + self._new_id()
        to = f"<{to_uri or f'sip:{self.user}@{self.domain}'}>" + (f";tag={to_tag}" if to_tag else "")
        headers = [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{self.local_port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.user}@{self.domain}>;tag={from_tag or self._new_id()}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        if method == "INVITE":
            headers.append(("Contact", f"<{self._contact()}>"))
        headers += [("User-Agent", "appliance-test-tls-phone"), *(extra or [])]
        headers.append(("Content-Length", str(len(body.encode()))))
        self._send(SipMessage(f"{method} {uri} SIP/2.0", headers, body))
        return branch

    def _ack(self, uri: str, response: SipMessage, cseq: int, from_tag: str) -> None:
        # The ACK of a non-2xx final response belongs to the INVITE transaction: same branch.
        branch = re.search(r"branch=([^;\s]+)", response.header("Via"))
        self._send_request(
            "ACK", uri, response.header("Call-ID"), cseq, from_tag, uri, response.tag("To"), branch=branch.group(1)
        )

    def _authorization(self, challenge: SipMessage, method: str, uri: str) -> tuple[str, str]:
        """Answer a digest challenge (MD5, qop=auth when offered) as RFC 2617 says."""
        proxy = challenge.status == 407
        text = challenge.header("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _AUTH_PARAM.finditer(text)}
        realm, nonce = params["realm"], params["nonce"]
        ha1 = _md5(f"{self.user}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        fields = [f'username="{self.user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in params.get("qop", "").split(","):
            cnonce, nc = self._new_id(), "00000001"
            response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = _md5(f"{ha1}:{nonce}:{ha2}")
        fields += [f'response="{response}"', "algorithm=MD5"]
        if "opaque" in params:
            fields.append(f'opaque="{params["opaque"]}"')
        return ("Proxy-Authorization" if proxy else "Authorization", "Digest " + ", ".join(fields))

    # -- wire --------------------------------------------------------------------------------------
    def _send(self, message: SipMessage) -> None:
        if self.sock is None:
            raise SipTlsError("not connected")
        # One OpenSSL connection must never be read and written by two threads at once: every use of
        # the socket holds the lock, and the reader only reads what is there (non-blocking).
        with self._lock:
            self.messages.append(("sent", message))
            self.sock.settimeout(10)
            self.sock.sendall(message.text().encode())

    def _read_loop(self) -> None:
        buffer = b""
        while (chunk := self._recv()) != b"":
            buffer += chunk or b""
            while (message := _parse(buffer)) is not None:
                parsed, buffer = message
                if parsed is not None:
                    self._dispatch(parsed)
        self.closed.set()

    def _recv(self) -> bytes | None:
        """Return what arrived (None: nothing yet, b"": the connection is closed)."""
        assert self.sock is not None
        try:
            readable, _, _ = select.select([self.sock], [], [], 0.2)
            with self._lock:
                if not readable and not self.sock.pending():
                    return None
                self.sock.settimeout(0)
                return self.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return None  # TLS records that carry no SIP (session tickets), or half a record
        except (OSError, ValueError) as exc:
            log.debug("TLS connection %s ended: %s", self.local_port, exc)
            return b""

    def _dispatch(self, message: SipMessage) -> None:
        self.messages.append(("received", message))
        if message.is_response:
            self._responses.put(message)
            return
        self.requests.put(message)
        if message.method == "ACK":
            return
        dialog = self.dialogs.get(message.header("Call-ID"))
        if message.method == "BYE" and dialog is not None:
            dialog.terminated_by = message
        # A phone says yes to whatever FreeSWITCH asks within a call (BYE, OPTIONS, INFO, NOTIFY).
        headers = [(k, v) for k, v in message.headers if k.lower() in ("via", "from", "to", "call-id", "cseq")]
        headers.append(("Content-Length", "0"))
        with contextlib.suppress(OSError):
            self._send(SipMessage("SIP/2.0 200 OK", headers))

    def _contact(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.local_port};transport=tls"

    @staticmethod
    def _new_id() -> str:
        return secrets.token_hex(8)

    def transcript(self) -> str:
        """Return the first line of every message so far, oldest first, for failure messages."""
        return "\n".join(f"{direction}: {m.first_line}" for direction, m in self.messages)

    def received(self, start: str) -> list[SipMessage]:
        """Return received messages whose first line starts with start ('BYE', 'SIP/2.0 200')."""
        return [m for d, m in self.messages if d == "received" and m.first_line.startswith(start)]


def _parse(buffer: bytes) -> tuple[SipMessage | None, bytes] | None:
    """Split one message off the front of buffer; None when it is not complete yet."""
    stripped = buffer.lstrip(b"\r\n")  # keepalive CRLFs (RFC 5626)
    if stripped != buffer:
        return None, stripped
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].decode("utf-8", "replace").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:])]
    length = int(next((v for k, v in headers if k.lower() in ("content-length", "l")), "0"))
    if len(buffer) < end + 4 + length:
        return None
    body = buffer[end + 4 : end + 4 + length].decode("utf-8", "replace")
    return SipMessage(head[0], headers, body), buffer[end + 4 + length :]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5 by definition (RFC 2617)
