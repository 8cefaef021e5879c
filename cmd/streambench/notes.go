package main

import (
	"slices"
	"time"
)

// notes says how the figures were taken.
func (b *bench) notes(took time.Duration) {
	c := b.cfg
	r := b.rep
	if c.ext.set() {
		r.note("Measured the running cell at %s (gRPC %s, NATS %s) as it is: every topic in it, no restart and no drain, so the figures that need them are not measured: consume from object storage, and objects per GB. Topic names end in %q.", c.ext.http, c.ext.grpc, c.ext.nats, b.suffix)
	}
	r.note("Whole run: %s. Each `streamhouse dev` cell runs as its own process with embedded NATS (JetStream fsync before every ack), bbolt and objectstore.NewFS on the same disk as this harness; the load generator shares the machine's cores, so figures on a busy or small machine are noisy: compare ratios, and rerun on a quiet machine before quoting absolutes.", took.Round(time.Second))
	r.note("Produce: HTTP POST of binary batches (application/vnd.streamhouse.batch), each request to one partition, partitions in turn; wal mode %d requests in flight of %s of values, object mode %d in flight (at most %d per partition) of %s (an object-mode ack waits for the segment's PUT, about the 1 s flush age). Each step runs %s (object mode %s) or until %s are acknowledged; the fixed-rate step runs at %.0f%% of the flat-out rate just measured, open loop, its latency counted from when each request was due. 429/503 answers are retried after %s and counted in the latency.",
		c.walConc, sizeName(c.walBatch), c.objectConc, objectPerPartition, sizeName(c.objectBatch), c.step, 2*c.step, mib(c.stepBytes), 100*c.fixedFraction, retryPause)
	r.note("Values are pseudo-random bytes, which LZ4 cannot compress: stored bytes are about the bytes sent. MB is 10^6 bytes; MiB 2^20.")
	if slices.ContainsFunc(c.partitions, func(p int) bool { return p >= c.bigPartitions }) {
		r.note("Topics with %d or more partitions run in a cell of their own with --lease-ttl %s: at the default 3 s a single agent on 2 cores cannot renew 4,096 leases (an fsync each) in time, and they churn (\"partition lost\" thousands of times a minute).", c.bigPartitions, c.bigLeaseTTL)
	}
	r.note("Floors: wal mode against raw JetStream async publishes (%d in flight) of the same request bodies to the cell's own NATS server, on a stream of its own with the WAL's storage settings (file, 1 replica, the server's sync always), and its sync publish latency one at a time; object mode against raw PUTs of %d MiB objects (a full segment), %d in flight, through objectstore.NewFS in the cell's data folder. A floor's latency is one message's or one PUT's, so latency ratios show what queueing, group commit and the flush age add.",
		floorAsyncPending, segmentBytes>>20, putFloorConc)
	if slices.Contains(c.modes, "wal") {
		r.note("Consume: the 'consume' topic (wal, %d partitions, 1 KiB records) is written, then read back through gRPC Fetch from offset 0 to the high watermark, %d partitions at once: first at once (from the actors' in-memory tails), then after a graceful restart of the same cell (the drain flushed every tail and trimmed the WAL, so the new actors start empty and every record comes from a segment through a cold block cache); its floor reads the same segment objects with objectstore.NewFS GETs.", consumeTopicParts, consumeConc)
	}
	r.note("End-to-end: one record at a time every %s to a one-partition topic; its value is the send time, read by a consumer long-polling the partition (max_wait 5 s). Object mode includes the flush age.", e2eGap)
	r.note("Memory: VmRSS and VmHWM of the cell process from /proc/PID/status just before its drain; a dev cell is one agent, so this is memory per agent plus the embedded NATS server and router.")
}
