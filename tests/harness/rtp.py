# SPDX-License-Identifier: GPL-3.0-or-later
"""Build RTP captures for sipp's play_pcap_audio: speech and RFC 2833 digits as one stream.

sipp replays a capture's packets as they are, so two captures played one after the other
repeat sequence numbers and timestamps, and FreeSWITCH drops a digit whose sequence number
goes back. Here the payloads of sipp's own captures (/usr/share/sip-tester) are re-stamped
into one stream: one SSRC, sequence numbers and timestamps always increasing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

SIPP_MEDIA = Path("/usr/share/sip-tester")
_ETH_IP = bytes.fromhex("00d05010016600047622201708004510011800004000401100000a01038f0a010612")
_PCMA, _EVENT = 8, 101  # payload types offered in tests/sipp/*.xml
_SSRC = 0x41505031
_PCMA_SILENCE = b"\xd5"


def _payloads(capture: Path) -> list[tuple[int, bool, bytes]]:
    """Return (payload type, marker, payload) of each RTP packet of a sipp capture (Ethernet, IPv4, UDP)."""
    data = capture.read_bytes()
    out, offset = [], 24
    while offset < len(data):
        _sec, _usec, length, _orig = struct.unpack("<IIII", data[offset : offset + 16])
        packet = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        rtp = packet[42:]
        out.append((rtp[1] & 0x7F, bool(rtp[1] & 0x80), rtp[12:]))
    return out


@dataclass
class RtpStream:
    """An RTP stream at 8000 Hz, built piece by piece, written as a pcap sipp can play."""

    packets: list[tuple[float, bytes]] = field(default_factory=list)  # (send time in s, RTP packet)
    _seq: int = 1000
    _ts: int = 8000
    _clock: float = 0.0

    def speech(self, seconds: float) -> RtpStream:
        """Append sipp's G.711 A-law speech sample, repeated to last about `seconds`."""
        sample = [p for p in _payloads(SIPP_MEDIA / "g711a.pcap") if p[0] == _PCMA]
        while seconds > 0:
            for _pt, _marker, payload in sample:
                self._audio(payload)
                seconds -= len(payload) / 8000
                if seconds <= 0:
                    break
        return self

    def silence(self, seconds: float) -> RtpStream:
        """Append A-law silence in 20 ms packets."""
        for _ in range(round(seconds / 0.02)):
            self._audio(_PCMA_SILENCE * 160)
        return self

    def digits(self, keys: str, gap: float = 0.3) -> RtpStream:
        """Append RFC 2833 events for keys (0-9, *, #) taken from sipp's captures, with silence between."""
        names = {"*": "star", "#": "pound"}
        for key in keys:
            events = _payloads(SIPP_MEDIA / f"dtmf_2833_{names.get(key, key)}.pcap")
            start = self._ts  # every packet of one event carries the event's start timestamp
            for index, (_pt, marker, payload) in enumerate(events):
                self._add(_EVENT, marker or index == 0, start, payload, step=0.02 if index < len(events) - 3 else 0)
            duration = struct.unpack("!H", events[-1][2][2:4])[0]
            self._ts += max(160 * len(events), duration)
            self.silence(gap)
        return self

    def write(self, path: Path) -> Path:
        """Write the stream as a pcap (Ethernet, IPv4, UDP) and return its path."""
        out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for when, rtp in self.packets:
            udp = struct.pack("!HHHH", 5000, 5002, 8 + len(rtp), 0) + rtp
            ip = bytearray(_ETH_IP)
            struct.pack_into("!H", ip, 16, 20 + len(udp))
            frame = bytes(ip) + udp
            sec = int(when)
            out += struct.pack("<IIII", 1_700_000_000 + sec, int((when - sec) * 1e6), len(frame), len(frame))
            out += frame
        path.write_bytes(bytes(out))
        return path

    @property
    def seconds(self) -> float:
        """How long sipp takes to play the stream."""
        return self._clock

    def _audio(self, payload: bytes) -> None:
        self._add(_PCMA, False, self._ts, payload, step=len(payload) / 8000)
        self._ts += len(payload)

    def _add(self, payload_type: int, marker: bool, timestamp: int, payload: bytes, step: float) -> None:
        header = struct.pack(
            "!BBHII", 0x80, payload_type | (0x80 if marker else 0), self._seq & 0xFFFF, timestamp & 0xFFFFFFFF, _SSRC
        )
        self.packets.append((self._clock, header + payload))
        self._seq += 1
        self._clock += step
