// Package permissions is the single source of truth for what the vendor's
// role may do.
//
// The catalog lists the grants in modules (cost and billing, Bedrock,
// observability, identity inventory, self-check) with explicit action
// lists. Everything else is derived from it: the IAM policy documents of the
// management and member roles, the templates that carry them, the
// human-readable summary a customer keeps for audit, and the services the
// verifier probes.
//
// The read-only gate (Check) rejects any policy that could change anything:
// an action whose access level in the pinned IAM action dataset is not List
// or Read, a wildcard, NotAction, a bare "*", an action the dataset does not
// know, a read that runs a model or unmasks data, and any S3 access outside
// the CUR bucket and prefix. It warns about reads that expose data contents.
package permissions
