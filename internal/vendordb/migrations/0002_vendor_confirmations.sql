-- rolecall-vendor schema, version 2: the vendor's own confirmation of each
-- reported role (assumed with the customer's external ID, read probes run).

CREATE TABLE confirmations (
	org_key     TEXT NOT NULL REFERENCES organizations (org_key),
	account_id  TEXT NOT NULL,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	role_arn    TEXT NOT NULL,
	status      TEXT NOT NULL,
	-- which external ID was used: current, or pending during a rotation
	external_id TEXT NOT NULL,
	checked_at  BIGINT NOT NULL,
	report      TEXT NOT NULL,
	PRIMARY KEY (org_key, account_id)
);

ALTER TABLE organizations ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN confirm_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN confirmed_at BIGINT;
