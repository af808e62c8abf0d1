-- SPDX-License-Identifier: GPL-3.0-or-later
-- Signed webhooks for call events: who wants them, and the durable outbox of deliveries.

-- A receiver registered by an admin (console or API) or by Ansible (managed_by). The secret signs
-- every delivery (HMAC-SHA256), so it is kept as given: a hash could not sign.
CREATE TABLE webhooks (
    id           serial      PRIMARY KEY,
    name         text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    url          text        NOT NULL CHECK (url ~ '^https?://[^\s]+$' AND length(url) <= 2000),
    secret       text        NOT NULL CHECK (length(secret) >= 16),
    events       text[]      NOT NULL CHECK (cardinality(events) > 0
                                             AND events <@ ARRAY['call.start', 'call.answer', 'call.hangup']),
    enabled      boolean     NOT NULL DEFAULT true,
    managed_by   text        NOT NULL DEFAULT 'console' CHECK (managed_by IN ('console', 'ansible')),
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per (webhook, event): made when the event is taken from the daemon's disk spool, kept until
-- it is delivered or given up, so a restart or a receiver that is down loses nothing.
CREATE TABLE webhook_deliveries (
    id              bigserial   PRIMARY KEY,
    webhook_id      integer     NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_status     integer,
    last_error      text        NOT NULL DEFAULT '',
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (webhook_id, created_at DESC);
