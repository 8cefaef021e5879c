// Package cells assembles a StreamHouse cell: its NATS server (embedded for
// the dev cell and tests, external in production), the partition leases that
// give each partition exactly one owner, the WAL on JetStream, the agent
// (a supervisor that takes a fair share of partitions, runs a partition actor
// per lease and serves produce and fetch on NATS subjects), the router's NATS
// clients for those subjects, and the consumer-group coordinator core.
//
// Fair share: live agents (keys in sh_<cell>_agents) sorted by id get exact
// quotas that add up to the partition count; within its quota an agent takes
// free partitions in rendezvous-hash order, and a partition free for a whole
// lease TTL is an orphan any agent may take. An agent over its quota hands
// partitions back gracefully: drain the subscriptions, stop the actor (flush
// and commit), release the lease.
//
// The contracts this package carries out (lease keys and buckets, what a
// lease guarantees and what only the epoch fences, subjects) are fixed in
// DESIGN.md, "Ownership, leases and fencing" and "NATS subjects and buckets".
package cells
