// Package vendordb is rolecall-vendor's database: customers and their
// sealed credentials, the organizations they hold, the append-only event
// log every page and API reads, the shared replay cache, and the vendor's
// own confirmations. One schema, from versioned migrations applied at
// Open, on SQLite (embedded, pure Go: the binary stays static) or on
// PostgreSQL (several instances behind a load balancer).
//
// The package stores what it is given: sealing and opening secrets is the
// caller's (internal/vault), so this package never sees a plaintext
// secret or external ID.
//
// Concurrency: every write that reads before it writes runs in one
// transaction. On SQLite transactions begin IMMEDIATE (one writer at a
// time, readers never blocked: WAL). On PostgreSQL the rows read are
// locked FOR UPDATE, and events are appended under a transaction-scoped
// advisory lock, so their seq numbers commit in order and a reader of
// the changes feed never skips one that commits late.
package vendordb
