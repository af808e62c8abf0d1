-- SPDX-License-Identifier: GPL-3.0-or-later
-- The console's CDR pages at a million rows (docs/benchmarks.md, "CDRs at scale"), each index checked
-- with EXPLAIN ANALYZE against the generated million.

-- Number search is a substring match ("part of any number on the call"): a B-tree cannot serve
-- LIKE '%...%', a trigram index can. One index over the five number columns joined by a unit
-- separator (chr(31)), which appliance/console/cdrquery.py matches with the very same expression.
-- pg_trgm is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cdrs_numbers_trgm ON cdrs USING gin (
    (caller_number || chr(31) || destination || chr(31) || did || chr(31) || extension
     || chr(31) || outbound_caller_id) gin_trgm_ops
);

-- The search lists newest first, ordered by (started_at, uuid), and pages by keyset: "the 50 rows
-- before this (started_at, uuid)". A B-tree reads backwards as well as forwards, so one index on
-- exactly that pair serves both directions at any depth, and replaces 0001's index.
DROP INDEX cdrs_started_at;
CREATE INDEX cdrs_started_at ON cdrs (started_at, uuid);

-- A rare call type ("unknown" is about 1%) would otherwise walk the time index through a hundred
-- rows for each one it shows.
CREATE INDEX cdrs_call_type ON cdrs (call_type, started_at);

-- Calls per hour, for the dashboard's charts and the numbers page: counting ~80,000 CDRs for a
-- 7-day chart on every view cost over a second at a million rows; this table has at most a few
-- dozen rows per hour. `hour` is the UTC hour the call started in.
CREATE TABLE cdr_hourly (
    hour      timestamptz NOT NULL,
    call_type text        NOT NULL,
    did       text        NOT NULL,
    answered  boolean     NOT NULL,
    calls     bigint      NOT NULL,
    billsec   bigint      NOT NULL,
    PRIMARY KEY (hour, call_type, did, answered)
);

-- Kept by statement triggers, in the transaction that changes cdrs, from the transition tables:
-- they hold only the rows really inserted (a replay's ON CONFLICT DO NOTHING adds nothing), and
-- every path that writes CDRs (the writer, COPY, a restore, a hand-made row) is counted the same.
-- One trigger call per statement, so the writer's multi-row INSERT costs one upsert per hour.
CREATE FUNCTION cdr_hourly_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM cdr_hourly;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO cdr_hourly AS h (hour, call_type, did, answered, calls, billsec)
        SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', call_type, did,
               answered_at IS NOT NULL, -count(*), -sum(billsec)
          FROM gone GROUP BY 1, 2, 3, 4
        ON CONFLICT (hour, call_type, did, answered)
        DO UPDATE SET calls = h.calls + excluded.calls, billsec = h.billsec + excluded.billsec;
        DELETE FROM cdr_hourly WHERE calls = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- ORDER BY: two transactions touching the same hours lock them in the same order.
        INSERT INTO cdr_hourly AS h (hour, call_type, did, answered, calls, billsec)
        SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', call_type, did,
               answered_at IS NOT NULL, count(*), sum(billsec)
          FROM added GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, call_type, did, answered)
        DO UPDATE SET calls = h.calls + excluded.calls, billsec = h.billsec + excluded.billsec;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER cdr_hourly_insert AFTER INSERT ON cdrs REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_hourly_apply();
CREATE TRIGGER cdr_hourly_update AFTER UPDATE ON cdrs REFERENCING OLD TABLE AS gone NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_hourly_apply();
CREATE TRIGGER cdr_hourly_delete AFTER DELETE ON cdrs REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_hourly_apply();
CREATE TRIGGER cdr_hourly_truncate AFTER TRUNCATE ON cdrs
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_hourly_apply();

-- The CDRs written before this migration.
INSERT INTO cdr_hourly (hour, call_type, did, answered, calls, billsec)
SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', call_type, did,
       answered_at IS NOT NULL, count(*), sum(billsec)
  FROM cdrs GROUP BY 1, 2, 3, 4;
