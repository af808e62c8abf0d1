# SPDX-License-Identifier: GPL-3.0-or-later
"""Signed webhooks for call events (see docs/webhooks.md).

Modules: `signing` (HMAC-SHA256 over timestamp and body; the receiver's check), `events` (ESL call
events to JSON payloads), `store` (registered webhooks and the durable delivery outbox in
PostgreSQL), `sender` (deliveries with retries and backoff), `daemon` (`appliance daemon webhooks`).
"""
