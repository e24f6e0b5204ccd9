// Package controlplane is the vendor's half of rolecall, behind the
// rolecall-vendor command: it issues each customer's external ID and
// callback secret, receives every customer's callbacks, shows the
// onboardings to the vendor's operators, serves them to the vendor's
// ingestion systems, and confirms each reported role with the vendor's
// own credentials.
//
// Callbacks are per customer. A callback names the key that signed it
// (x-rolecall-key-id); that key id finds one customer, and only that
// customer's secret may verify it. The customer's first verified callback
// binds it to its management account; every later one must come from that
// account, and an organization another customer holds is refused. The
// replay cache, the log and the onboardings live in the database
// (internal/vendordb), so any number of instances on one PostgreSQL
// behave as one.
//
// Secrets and external IDs are sealed with internal/vault before they
// reach the database, each bound to its customer and column.
package controlplane
