# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the metrics tests: read a registry's samples the way a scrape would see them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def scrape(registry: CollectorRegistry) -> dict[str, dict[tuple, float]]:
    """Render the registry as exposition text, parse it back, and index samples by name and labels."""
    return parse(generate_latest(registry).decode())


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """Index exposition text by sample name, then by sorted label pairs."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    """Return one sample's value (KeyError names what is missing)."""
    return samples[name][tuple(sorted(labels.items()))]
