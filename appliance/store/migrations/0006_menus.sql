-- SPDX-License-Identifier: GPL-3.0-or-later
-- IVR menus, ring groups and call queues (docs/pbx-menus.md). Members, agents and option
-- destinations are validated as a whole model by the store (appliance/model/menus_check.py),
-- so a removed extension that a group still rings is refused with the group's name.

CREATE TABLE ivrs (
    id                 serial  PRIMARY KEY,
    name               text    NOT NULL UNIQUE,
    greeting           text    NOT NULL DEFAULT '',
    number             text    NOT NULL DEFAULT '',
    dial_by_extension  boolean NOT NULL DEFAULT false,
    timeout_ms         integer NOT NULL DEFAULT 5000,
    max_attempts       integer NOT NULL DEFAULT 3,
    invalid_prompt     text    NOT NULL DEFAULT '',
    fallback_kind      text    NOT NULL DEFAULT '',
    fallback           text    NOT NULL DEFAULT '',
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

-- Duplicate digits are refused by validation with the menu's name, not by a constraint here.
CREATE TABLE ivr_options (
    ivr_id             integer NOT NULL REFERENCES ivrs (id) ON DELETE CASCADE,
    position           integer NOT NULL,
    digits             text    NOT NULL,
    destination_kind   text    NOT NULL,
    destination        text    NOT NULL,
    PRIMARY KEY (ivr_id, position)
);

CREATE TABLE ring_groups (
    id                 serial  PRIMARY KEY,
    name               text    NOT NULL UNIQUE,
    members            text[]  NOT NULL DEFAULT '{}',
    strategy           text    NOT NULL DEFAULT 'simultaneous',
    ring_seconds       integer NOT NULL DEFAULT 20,
    number             text    NOT NULL DEFAULT '',
    fallback_kind      text    NOT NULL DEFAULT '',
    fallback           text    NOT NULL DEFAULT '',
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

CREATE TABLE queues (
    id                 serial  PRIMARY KEY,
    name               text    NOT NULL UNIQUE,
    agents             text[]  NOT NULL DEFAULT '{}',
    strategy           text    NOT NULL DEFAULT 'longest-idle-agent',
    max_wait_seconds   integer NOT NULL DEFAULT 300,
    hold_music         text    NOT NULL DEFAULT '',
    announce_seconds   integer NOT NULL DEFAULT 30,
    agent_ring_seconds integer NOT NULL DEFAULT 15,
    number             text    NOT NULL DEFAULT '',
    overflow_kind      text    NOT NULL DEFAULT '',
    overflow           text    NOT NULL DEFAULT '',
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

-- Call parking: after this long a parked call rings back the phone that parked it.
ALTER TABLE site ADD COLUMN park_timeout_seconds integer NOT NULL DEFAULT 60;
