package router

import "testing"

// Vectors from Kafka's own test (clients/src/test/java/org/apache/kafka/
// common/utils/UtilsTest.java, testMurmur2), plus short keys that reach
// each tail case of the loop (1 to 5 bytes), as published by Akka's
// Murmur2Spec "from the kafka murmur2 impl" and checked here against a
// line-by-line transcription of Utils.murmur2. (kafkajs's murmur2.spec.js
// values were not used: they disagree with that transcription, e.g. "1".)
var murmur2Vectors = []struct {
	key  string
	hash int32
}{
	// Kafka UtilsTest.testMurmur2
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	// Akka Murmur2Spec
	{"1", -1993445489},
	{"12", 126087238},
	{"123", -267702483},
	{"1234", -1614185708},
	{"12345", -1188365604},
}

func TestMurmur2KafkaVectors(t *testing.T) {
	t.Parallel()
	for _, v := range murmur2Vectors {
		if got := murmur2([]byte(v.key)); got != v.hash {
			t.Errorf("murmur2(%q) = %d, want %d", v.key, got, v.hash)
		}
	}
}

// TestKeyPartitionIsKafkas checks the partition formula against the vectors
// with Kafka's arithmetic written out: Utils.toPositive(hash) % n, where
// toPositive is hash & 0x7fffffff (not Math.abs).
func TestKeyPartitionIsKafkas(t *testing.T) {
	t.Parallel()
	for _, v := range murmur2Vectors {
		for _, n := range []int32{1, 2, 3, 4, 6, 12, 100, 10000} {
			want := int32(uint32(v.hash)&0x7fffffff) % n
			if got := keyPartition([]byte(v.key), n); got != want {
				t.Errorf("keyPartition(%q, %d) = %d, want %d", v.key, n, got, want)
			}
		}
	}
	// Pinned values, so that a change to the formula shows up as a diff.
	// "12345" and "1" hash negative, and there toPositive and Math.abs
	// disagree (abs would give 6 and 2).
	for _, c := range []struct {
		key  string
		n    int32
		want int32
	}{{"21", 4, 0}, {"foobar", 4, 2}, {"abc", 4, 3}, {"12345", 7, 3}, {"1", 3, 0}, {"", 4, 1}} {
		if got := keyPartition([]byte(c.key), c.n); got != c.want {
			t.Errorf("keyPartition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

func TestStickyPartitionInRange(t *testing.T) {
	t.Parallel()
	seen := map[int32]bool{}
	for range 1000 {
		p := stickyPartition(5)
		if p < 0 || p >= 5 {
			t.Fatalf("partition %d of 5", p)
		}
		seen[p] = true
	}
	if len(seen) != 5 {
		t.Fatalf("1000 picks hit only %v", seen)
	}
	if stickyPartition(1) != 0 {
		t.Fatal("one partition")
	}
}
