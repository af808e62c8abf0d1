-- SPDX-License-Identifier: GPL-3.0-or-later
-- A device that registers over TLS (docs/sip-tls.md): calls to its lines require SRTP, and its
-- provisioning profile says TLS with SRTP mandatory.
ALTER TABLE devices ADD COLUMN tls boolean NOT NULL DEFAULT false;
