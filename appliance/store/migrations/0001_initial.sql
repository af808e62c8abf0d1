-- SPDX-License-Identifier: GPL-3.0-or-later
-- The PBX data model. Every configurable object records who manages it:
-- 'ansible' objects come from the fleet inventory and are read-only in the console.

CREATE TABLE site (
    id                 smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    domain             text     NOT NULL DEFAULT 'pbx.local',
    company_name       text     NOT NULL DEFAULT 'Office',
    company_number     text     NOT NULL DEFAULT '',
    lan_ip             text     NOT NULL DEFAULT '127.0.0.1',
    trunk_ip           text     NOT NULL DEFAULT '127.0.0.1',
    internal_sip_port  integer  NOT NULL DEFAULT 5060,
    internal_tls_port  integer  NOT NULL DEFAULT 5061,
    external_sip_port  integer  NOT NULL DEFAULT 5080,
    rtp_start          integer  NOT NULL DEFAULT 16384,
    rtp_end            integer  NOT NULL DEFAULT 32768,
    tls_enabled        boolean  NOT NULL DEFAULT false,
    codecs             text     NOT NULL DEFAULT 'OPUS,G722,PCMU,PCMA',
    ring_seconds       integer  NOT NULL DEFAULT 30,
    managed_by         text     NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);
INSERT INTO site (id) VALUES (1);

CREATE TABLE extensions (
    id                 serial PRIMARY KEY,
    number             text    NOT NULL UNIQUE,
    name               text    NOT NULL,
    sip_password       text    NOT NULL,
    voicemail_pin      text    NOT NULL,
    caller_id_number   text    NOT NULL DEFAULT '',
    outbound_allowed   boolean NOT NULL DEFAULT true,
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

CREATE TABLE devices (
    id                 serial PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    kind               text NOT NULL CHECK (kind IN ('sip_phone', 'fxs_gateway')),
    mac                text NOT NULL DEFAULT '',
    model              text NOT NULL DEFAULT '',
    managed_by         text NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

-- One SIP account per phone line or FXS port; it rings with its extension.
CREATE TABLE device_lines (
    device_id          integer NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    port               integer NOT NULL CHECK (port BETWEEN 1 AND 64),
    extension_id       integer NOT NULL REFERENCES extensions (id) ON DELETE RESTRICT,
    sip_username       text    NOT NULL UNIQUE,
    sip_password       text    NOT NULL,
    PRIMARY KEY (device_id, port)
);

CREATE TABLE trunks (
    id                 serial PRIMARY KEY,
    name               text    NOT NULL UNIQUE,
    host               text    NOT NULL,
    port               integer NOT NULL DEFAULT 5060,
    transport          text    NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp', 'tls')),
    username           text    NOT NULL DEFAULT '',
    password           text    NOT NULL DEFAULT '',
    register           boolean NOT NULL DEFAULT false,
    from_domain        text    NOT NULL DEFAULT '',
    inbound_cidrs      text[]  NOT NULL DEFAULT '{}',
    max_channels       integer NOT NULL DEFAULT 0,
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

CREATE TABLE inbound_numbers (
    id                 serial PRIMARY KEY,
    number             text NOT NULL UNIQUE,
    destination_kind   text NOT NULL,
    destination        text NOT NULL,
    tracking_tag       text NOT NULL DEFAULT '',
    trunk_id           integer REFERENCES trunks (id) ON DELETE RESTRICT,
    managed_by         text NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

CREATE TABLE outbound_routes (
    id                 serial PRIMARY KEY,
    name               text    NOT NULL UNIQUE,
    patterns           text[]  NOT NULL,
    presentation       text    NOT NULL DEFAULT 'extension'
                                CHECK (presentation IN ('extension', 'company', 'withheld')),
    strip_digits       integer NOT NULL DEFAULT 0,
    prepend            text    NOT NULL DEFAULT '',
    priority           integer NOT NULL DEFAULT 100,
    managed_by         text    NOT NULL DEFAULT 'console' CHECK (managed_by IN ('ansible', 'console'))
);

-- A route tries its trunks in order (failover).
CREATE TABLE outbound_route_trunks (
    route_id           integer NOT NULL REFERENCES outbound_routes (id) ON DELETE CASCADE,
    position           integer NOT NULL,
    trunk_id           integer NOT NULL REFERENCES trunks (id) ON DELETE RESTRICT,
    PRIMARY KEY (route_id, position)
);

-- One row per call: the A-leg as FreeSWITCH reported it at hangup. `uuid` is the
-- A-leg's channel UUID, so replaying a spooled CDR twice can never write it twice.
CREATE TABLE cdrs (
    uuid               uuid        PRIMARY KEY,
    call_type          text        NOT NULL,
    caller_number      text        NOT NULL DEFAULT '',
    caller_name        text        NOT NULL DEFAULT '',
    destination        text        NOT NULL DEFAULT '',
    context            text        NOT NULL DEFAULT '',
    extension          text        NOT NULL DEFAULT '',
    trunk              text        NOT NULL DEFAULT '',
    route              text        NOT NULL DEFAULT '',
    did                text        NOT NULL DEFAULT '',
    tracking_tag       text        NOT NULL DEFAULT '',
    outbound_caller_id text        NOT NULL DEFAULT '',
    started_at         timestamptz NOT NULL,
    answered_at        timestamptz,
    ended_at           timestamptz NOT NULL,
    duration_s         integer     NOT NULL DEFAULT 0,
    billsec            integer     NOT NULL DEFAULT 0,
    hangup_cause       text        NOT NULL DEFAULT '',
    sip_hangup_status  text        NOT NULL DEFAULT '',
    variables          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cdrs_started_at ON cdrs (started_at DESC);
CREATE INDEX cdrs_tracking_tag ON cdrs (tracking_tag, started_at) WHERE tracking_tag <> '';
