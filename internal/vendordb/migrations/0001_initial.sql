-- rolecall-vendor schema, version 1. Times are Unix microseconds (UTC).
-- Secrets and external IDs are sealed (internal/vault: AES-256-GCM, the
-- value bound to its row and column); the *_hash columns are SHA-256 of
-- the external ID, for uniqueness only (a 192-bit random value's hash
-- reveals nothing).

CREATE TABLE customers (
	id                         TEXT PRIMARY KEY,
	name                       TEXT NOT NULL,
	created_at                 BIGINT NOT NULL,
	revoked_at                 BIGINT,
	region                     TEXT NOT NULL,
	release                    TEXT NOT NULL,
	external_id_sealed         TEXT NOT NULL,
	external_id_hash           TEXT NOT NULL UNIQUE,
	pending_external_id_sealed TEXT,
	pending_external_id_hash   TEXT UNIQUE,
	rotation_started_at        BIGINT,
	secret_sealed              TEXT NOT NULL,
	key_id                     TEXT NOT NULL UNIQUE,
	-- Bound by the first verified callback; never changes after.
	management_account_id      TEXT,
	bound_at                   BIGINT
);
CREATE INDEX customers_by_name ON customers (name, id);

-- One row per organization (or single account): its claim by a customer,
-- and the merge of every callback (state: ledger.Onboarding as JSON).
CREATE TABLE organizations (
	org_key               TEXT PRIMARY KEY,
	customer_id           TEXT NOT NULL REFERENCES customers (id),
	management_account_id TEXT NOT NULL,
	status                TEXT NOT NULL,
	accounts              INTEGER NOT NULL,
	verified              INTEGER NOT NULL,
	gaps                  INTEGER NOT NULL,
	finding               INTEGER NOT NULL,
	unverifiable          INTEGER NOT NULL,
	unreachable           INTEGER NOT NULL,
	state                 TEXT NOT NULL,
	updated_at            BIGINT NOT NULL
);
CREATE INDEX organizations_by_customer ON organizations (customer_id);

-- Append-only: every callback accepted and every operator action, in the
-- order committed. seq is the cursor of the changes API.
CREATE TABLE events (
	seq         {{serial}},
	customer_id TEXT NOT NULL REFERENCES customers (id),
	org_key     TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	event       TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	occurred_at BIGINT NOT NULL,
	received_at BIGINT NOT NULL,
	entry       TEXT NOT NULL,
	UNIQUE (customer_id, event_id)
);
CREATE INDEX events_by_org ON events (org_key, seq);
CREATE INDEX events_by_customer ON events (customer_id, seq);

-- The webhook ids verified, per customer, until they expire: every
-- instance on one database refuses a replay any of them has seen.
CREATE TABLE replay (
	customer_id TEXT NOT NULL,
	webhook_id  TEXT NOT NULL,
	expires_at  BIGINT NOT NULL,
	PRIMARY KEY (customer_id, webhook_id)
);
CREATE INDEX replay_by_expiry ON replay (expires_at);
