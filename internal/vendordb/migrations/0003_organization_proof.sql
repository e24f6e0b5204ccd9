-- rolecall-vendor schema, version 3: whether the organization a customer
-- claims is the one its roles' accounts report (organizations:
-- DescribeOrganization, read by the vendor's own confirmation). A claim
-- found false lets the next customer that proves the organization take it.

ALTER TABLE organizations ADD COLUMN org_proof TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN org_proof_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN org_proof_at BIGINT;
