-- SPDX-License-Identifier: GPL-3.0-or-later
-- Caller-ID presentation per extension, call recording (docs/recording.md).
--
-- extensions.presentation: '' follows the outbound route; 'extension', 'company' or 'withheld'
-- override it (a withheld route or extension always wins: privacy is never undone).
-- Recording: per extension ('off', 'always', 'on_demand' by feature code during a call) and per
-- outbound route. Recordings are encrypted to the owner's public key (site.recording_key, an age
-- X25519 recipient); the appliance keeps no private key, so it cannot read what it recorded.

ALTER TABLE site
    ADD COLUMN recording_key text NOT NULL DEFAULT '';

-- The allowed values are checked by the model's validation (appliance/model/media.py), which names
-- the extension and field in its message; a CHECK here would fail first with a bare constraint name.
ALTER TABLE extensions
    ADD COLUMN presentation text NOT NULL DEFAULT '',
    ADD COLUMN recording    text NOT NULL DEFAULT 'off';

ALTER TABLE outbound_routes
    ADD COLUMN record_calls boolean NOT NULL DEFAULT false;
