# SPDX-License-Identifier: GPL-3.0-or-later
"""Media ports for sipp: a block free as a whole, outside FreeSWITCH's RTP and the ephemeral range."""

from __future__ import annotations

import itertools
import socket

from appliance.devstack.net import free_udp_block


def test_blocks_are_free_apart_and_below_the_rtp_and_ephemeral_ranges():
    firsts = [free_udp_block(4) for _ in range(5)]
    for first in firsts:
        assert first >= 10000 and first + 3 < 20000
    assert len(set(firsts)) == 5
    starts = sorted(firsts)
    assert all(b - a >= 4 for a, b in itertools.pairwise(starts))


def test_a_block_with_one_port_taken_is_skipped():
    probe = free_udp_block(4)
    taken = probe + 4 + 2  # the middle of the next block the cursor will offer
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", taken))
        first = free_udp_block(4)
    assert not first <= taken < first + 4
