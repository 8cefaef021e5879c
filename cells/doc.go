// Package cells assembles a StreamHouse cell: its NATS server (embedded for
// the dev cell and tests, external in production), the partition leases
// that give each partition exactly one owner, and, in later issues, the agent
// supervisor and the links between cells.
//
// The contracts this package carries out (lease keys and buckets, what a
// lease guarantees and what only the epoch fences) are fixed in DESIGN.md,
// "Ownership, leases and fencing" and "NATS subjects and buckets".
package cells
