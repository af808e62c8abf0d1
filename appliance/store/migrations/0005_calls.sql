-- SPDX-License-Identifier: GPL-3.0-or-later
-- PBX features part 1 (docs/pbx-features.md): voicemail boxes, business-hours schedules with
-- holidays, and call forwarding rules. FreeSWITCH applies all of them from the rendered
-- configuration; these tables are only their source of truth.

ALTER TABLE site ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';

CREATE TABLE mailboxes (
    id                  serial  PRIMARY KEY,
    extension_id        integer NOT NULL UNIQUE REFERENCES extensions (id) ON DELETE CASCADE,
    on_busy             boolean NOT NULL DEFAULT true,
    on_no_answer        boolean NOT NULL DEFAULT true,
    managed_by          text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

-- ranges: [{"days": "mon-fri", "start": "09:00", "end": "17:00"}, ...]
-- holidays: [{"start": "2025-12-24", "end": "2025-12-26", "name": "Christmas"}, ...]
CREATE TABLE schedules (
    id                  serial PRIMARY KEY,
    name                text   NOT NULL UNIQUE,
    open_kind           text   NOT NULL,
    open_destination    text   NOT NULL,
    closed_kind         text   NOT NULL,
    closed_destination  text   NOT NULL,
    ranges              jsonb  NOT NULL DEFAULT '[]',
    holidays            jsonb  NOT NULL DEFAULT '[]',
    timezone            text   NOT NULL DEFAULT '',
    managed_by          text   NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

CREATE TABLE forward_rules (
    id                  serial  PRIMARY KEY,
    extension_id        integer NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    condition           text    NOT NULL CHECK (condition IN ('always', 'busy', 'no_answer', 'unreachable')),
    position            integer NOT NULL DEFAULT 1,
    destination_kind    text    NOT NULL,
    destination         text    NOT NULL,
    callers             text[]  NOT NULL DEFAULT '{}',
    schedule_id         integer REFERENCES schedules (id) ON DELETE RESTRICT,
    during              text    NOT NULL DEFAULT 'open',
    ring_seconds        integer NOT NULL DEFAULT 0,
    managed_by          text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console')),
    UNIQUE (extension_id, condition, position)
);
