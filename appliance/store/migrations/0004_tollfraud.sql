-- SPDX-License-Identifier: GPL-3.0-or-later
-- Toll-fraud guard (docs/firewall.md): how many calls an extension may have out through the trunks at
-- once, and which outbound routes it may use. The site holds the defaults; an extension's 0 and ''
-- mean "the site's". FreeSWITCH enforces both from the rendered directory and dialplan, without Python.

ALTER TABLE site
    ADD COLUMN max_outside_calls integer NOT NULL DEFAULT 2 CHECK (max_outside_calls BETWEEN 1 AND 1000),
    ADD COLUMN outside_routes    text    NOT NULL DEFAULT '*';

ALTER TABLE extensions
    ADD COLUMN max_outside_calls integer NOT NULL DEFAULT 0 CHECK (max_outside_calls BETWEEN 0 AND 1000),
    ADD COLUMN outside_routes    text    NOT NULL DEFAULT '';
