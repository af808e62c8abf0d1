-- SPDX-License-Identifier: GPL-3.0-or-later
-- The web console and REST API: who may sign in, which tokens scripts use, and what everyone changed.

-- People who sign in to the console. The first one is made at first boot with a generated password
-- that must be changed at the first sign-in. session_epoch grows with every password change, which
-- ends every session signed in with the old password.
CREATE TABLE console_users (
    id                   serial      PRIMARY KEY,
    username             text        NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9_.-]{0,31}$'),
    password_hash        text        NOT NULL,
    role                 text        NOT NULL CHECK (role IN ('admin', 'readonly')),
    must_change_password boolean     NOT NULL DEFAULT true,
    session_epoch        integer     NOT NULL DEFAULT 0,
    disabled             boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    password_changed_at  timestamptz,
    last_sign_in_at      timestamptz
);

-- Bearer tokens for the REST API. Only a SHA-256 digest of the token is kept: tokens are 256 random
-- bits, so a slow hash adds nothing and a digest can be looked up directly.
CREATE TABLE api_tokens (
    id                   serial      PRIMARY KEY,
    name                 text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    token_hash           text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    scopes               text[]      NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write']),
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_used_at         timestamptz,
    revoked_at           timestamptz
);

-- One row per change made through the console, the API or the console commands, written in the
-- same transaction as the change itself: a change without its audit row cannot be committed.
CREATE TABLE audit_log (
    id                   bigserial   PRIMARY KEY,
    at                   timestamptz NOT NULL DEFAULT now(),
    actor                text        NOT NULL,                 -- 'user:admin', 'token:crm', 'cli'
    action               text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    object_kind          text        NOT NULL,                 -- 'extension', 'trunk', 'console_user', ...
    object_key           text        NOT NULL,
    summary              jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- what changed, secrets masked
    remote_addr          text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_object ON audit_log (object_kind, object_key, at DESC);
