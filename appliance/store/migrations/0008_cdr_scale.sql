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

-- The dashboard's charts and the numbers page count calls and answered calls per hour, day or DID
-- over a time range: with answered_at and did in the index those are index-only scans. A B-tree
-- reads backwards as well as forwards, so this also serves "newest first" and replaces 0001's index.
DROP INDEX cdrs_started_at;
CREATE INDEX cdrs_started_at ON cdrs (started_at) INCLUDE (answered_at, did);

-- A rare call type ("unknown" is about 1%) would otherwise walk the time index through a hundred
-- rows for each one it shows.
CREATE INDEX cdrs_call_type ON cdrs (call_type, started_at);
