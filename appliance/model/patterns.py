# SPDX-License-Identifier: GPL-3.0-or-later
"""Dial patterns in the notation PBX admins already know (Asterisk/FreePBX style).

    X any digit, Z 1-9, N 2-9, [1-5] or [139] a set, 0-9 * # + themselves,
    a final `.` one or more further digits, a final `!` zero or more.
A leading `_` is accepted and ignored. Patterns compile to anchored regexes for the
FreeSWITCH dialplan, and two patterns can be tested for overlap (some number matches both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGITS = frozenset("0123456789")
_LITERALS = frozenset("0123456789*#+")
_NAMED = {"X": DIGITS, "Z": frozenset("123456789"), "N": frozenset("23456789")}


class PatternError(ValueError):
    """A dial pattern that cannot be parsed; the message says where."""


@dataclass(frozen=True)
class DialPattern:
    text: str
    classes: tuple[frozenset[str], ...]
    tail: str  # "" (exact length), "." (one or more digits) or "!" (zero or more)

    @property
    def min_length(self) -> int:
        return len(self.classes) + (1 if self.tail == "." else 0)

    @property
    def max_length(self) -> float:
        return float("inf") if self.tail else len(self.classes)

    def regex(self) -> str:
        """Return an anchored PCRE for FreeSWITCH, capturing the whole number as $1."""
        body = "".join(_class_regex(c) for c in self.classes)
        body += {"": "", ".": r"\d+", "!": r"\d*"}[self.tail]
        return f"^({body})$"

    def dial_regex(self, strip_digits: int = 0) -> str:
        """Return an anchored PCRE whose group 1 is the number left after stripping a prefix."""
        kept = "".join(_class_regex(c) for c in self.classes[strip_digits:])
        kept += {"": "", ".": r"\d+", "!": r"\d*"}[self.tail]
        return "^" + "".join(_class_regex(c) for c in self.classes[:strip_digits]) + f"({kept})$"

    def matches(self, number: str) -> bool:
        return re.fullmatch(self.regex()[1:-1], number) is not None

    def _class_at(self, i: int) -> frozenset[str]:
        return self.classes[i] if i < len(self.classes) else DIGITS


def parse(text: str) -> DialPattern:
    """Parse a dial pattern, raising PatternError that names the offending position."""
    src = text[1:] if text.startswith("_") else text
    if not src:
        raise PatternError(f"dial pattern {text!r} is empty")
    classes: list[frozenset[str]] = []
    tail = ""
    i = 0
    while i < len(src):
        ch = src[i]
        if tail:
            raise PatternError(f"dial pattern {text!r}: {tail!r} must be the last character")
        if ch in ".!":
            tail = ch
        elif ch.upper() in _NAMED:
            classes.append(_NAMED[ch.upper()])
        elif ch in _LITERALS:
            classes.append(frozenset(ch))
        elif ch == "[":
            end = src.find("]", i)
            if end < 0:
                raise PatternError(f"dial pattern {text!r}: '[' at position {i + 1} is never closed")
            classes.append(_parse_set(text, src[i + 1 : end]))
            i = end
        else:
            raise PatternError(f"dial pattern {text!r}: character {ch!r} at position {i + 1} is not allowed")
        i += 1
    if not classes:
        raise PatternError(f"dial pattern {text!r} needs at least one digit before {tail!r}")
    return DialPattern(text, tuple(classes), tail)


def overlap(a: DialPattern, b: DialPattern) -> str | None:
    """Return a number both patterns match, or None when they are disjoint."""
    length = max(a.min_length, b.min_length)
    if length > min(a.max_length, b.max_length):
        return None
    witness = []
    for i in range(length):
        common = a._class_at(i) & b._class_at(i)
        if not common:
            return None
        witness.append(min(common))
    return "".join(witness)


def _parse_set(text: str, body: str) -> frozenset[str]:
    chars: set[str] = set()
    j = 0
    while j < len(body):
        if j + 2 < len(body) and body[j + 1] == "-":
            lo, hi = body[j], body[j + 2]
            if not (lo.isdigit() and hi.isdigit() and lo <= hi):
                raise PatternError(f"dial pattern {text!r}: range {body[j : j + 3]!r} is not a digit range")
            chars.update(str(d) for d in range(int(lo), int(hi) + 1))
            j += 3
        elif body[j] in _LITERALS:
            chars.add(body[j])
            j += 1
        else:
            raise PatternError(f"dial pattern {text!r}: {body[j]!r} is not allowed inside [ ]")
    if not chars:
        raise PatternError(f"dial pattern {text!r}: empty set []")
    return frozenset(chars)


def _class_regex(chars: frozenset[str]) -> str:
    if chars == DIGITS:
        return r"\d"
    if len(chars) == 1:
        return re.escape(next(iter(chars)))
    return "[" + "".join(re.escape(c) if c in "*#+" else c for c in sorted(chars)) + "]"
