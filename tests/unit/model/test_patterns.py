# SPDX-License-Identifier: GPL-3.0-or-later
"""Dial patterns: parsing errors say where, regexes match what admins expect, overlap is exact."""

from __future__ import annotations

import re

import pytest

from appliance.model.patterns import PatternError, overlap, parse


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("0ZXXXXXXXX.", ["03012345678", "089123456789"], ["0012345678", "0301234567"]),
        ("_9NXXNXXXXXX", ["92125551234"], ["91125551234", "9212555123"]),
        ("00.", ["0044", "001"], ["00"]),
        ("112", ["112"], ["1120"]),
        ("[1-3]5!", ["15", "2599", "35"], ["45", "1"]),
        ("+49X.", ["+4930"], ["4930"]),
    ],
)
def test_matching(pattern, matches, misses):
    p = parse(pattern)
    assert all(p.matches(n) for n in matches)
    assert not any(p.matches(n) for n in misses)


def test_dial_regex_strips_the_prefix_into_group_one():
    m = re.match(parse("90ZXXXXXX.").dial_regex(strip_digits=1), "9030123456")
    assert m is not None and m.group(1) == "030123456"


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ("9Q.", "character 'Q' at position 2"),
        ("9.X", "'.' must be the last character"),
        ("9[1-", "'[' at position 2 is never closed"),
        ("[5-1]", "range '5-1' is not a digit range"),
        ("", "is empty"),
        (".", "needs at least one digit"),
    ],
)
def test_malformed_patterns_say_where(pattern, where):
    with pytest.raises(PatternError, match=re.escape(where)):
        parse(pattern)


@pytest.mark.parametrize(
    ("a", "b", "witness"),
    [
        ("0ZXXXXXXXX.", "011.", "01100000000"),
        ("00.", "0044X.", "004400"),
        ("1XX", "1[0-5]X", "100"),
        ("9!", "9", "9"),
        ("0Z.", "00.", None),
        ("1XX", "1XXX", None),
        ("2.", "3.", None),
    ],
)
def test_overlap_finds_a_number_matching_both_or_none(a, b, witness):
    found = overlap(parse(a), parse(b))
    assert found == witness
    if found is not None:
        assert parse(a).matches(found) and parse(b).matches(found)
    assert overlap(parse(b), parse(a)) == found
