package router

import "math/rand/v2"

// Partitioning, in order of precedence, as Kafka's default partitioner:
//
//  1. an explicit partition (validated against the topic's count);
//  2. a key (even an empty one): toPositive(murmur2(key)) % partitions,
//     bit-for-bit Kafka's, so a key lands on the same partition number as
//     with a Kafka client and a topic migrated with its partition count keeps
//     its per-key order;
//  3. no key: sticky per request. All keyless records of one request go to
//     one partition, picked at random for each request.
//
// Why sticky per request rather than round-robin per record: Kafka's
// uniform sticky partitioner (KIP-480, KIP-794) fills one batch before moving
// on, because many small batches cost more than a few full ones. Here the
// request is the batch: sticking keeps a keyless request to one
// ProduceRequest, one owner round trip and one WAL append, where round-robin
// would cut it into as many small batches as the topic has partitions. A
// request is at most MaxRequestBytes, which bounds the skew one request can
// cause. The pick is random rather than a rotating counter because a counter
// shared by all topics can fall into step with a client's pattern (a client
// alternating two topics of two partitions would hit partition 0 of each
// every time); random has no state to share either.
// TODO: prefer partitions whose owners are not busy (KIP-794's adaptive
// part), once Busy answers are tracked per partition.

// keyPartition is Kafka's default partitioner for a keyed record:
// Utils.toPositive(Utils.murmur2(key)) % numPartitions.
func keyPartition(key []byte, partitions int32) int32 {
	return (murmur2(key) & 0x7fffffff) % partitions
}

// stickyPartition picks the partition of a request's keyless records.
func stickyPartition(partitions int32) int32 { return rand.Int32N(partitions) }

// murmur2 is Kafka's org.apache.kafka.common.utils.Utils.murmur2: 32-bit
// MurmurHash2 with Kafka's seed, over 4-byte little-endian words.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
