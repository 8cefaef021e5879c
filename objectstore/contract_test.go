package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

// The contract suite lives in this _test file: every Store implementation
// lives in this package (DESIGN.md), so nothing outside needs to run it.

func TestMemContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) Store { return NewMem() })
}

func TestFSContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) Store {
		s, err := NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3Contract(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	var n atomic.Int64
	runContract(t, func(t *testing.T) Store {
		// One server and bucket for the suite; a prefix per subtest.
		return newTestS3(t, srv, S3Config{Prefix: fmt.Sprintf("contract-%d", n.Add(1))})
	})
}

func TestMetricsContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) Store {
		return WithMetrics(NewMem(), prometheus.NewRegistry(), "mem")
	})
}

func TestFaultyContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) Store { return NewFaulty(NewMem(), 1) })
}

// newTestS3 returns an S3 store on srv's bucket; cfg may set anything but
// the connection.
func newTestS3(t *testing.T, srv *s3test.Server, cfg S3Config) *S3 {
	t.Helper()
	cfg.Bucket = srv.Bucket
	cfg.Endpoint = srv.Endpoint
	cfg.Region = srv.Region
	cfg.UsePathStyle = true
	cfg.AccessKeyID = srv.AccessKey
	cfg.SecretAccessKey = srv.Secret
	s, err := NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runContract runs every behaviour the Store interface promises against
// fresh stores from newStore, each subtest in parallel.
func runContract(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"KeyCharacters", testKeyCharacters},
		{"Overwrite", testOverwrite},
		{"CallerOwnsBuffers", testCallerOwnsBuffers},
		{"GetMissing", testGetMissing},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"GetRange", testGetRange},
		{"List", testList},
		{"Delete", testDelete},
		{"InvalidKey", testInvalidKey},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// randomBytes returns n bytes that are the same for the same seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %.16q, want %d bytes %.16q", key, len(got), got, len(want), want)
	}
}

// wantErr fails unless err wraps sentinel inside an *Error for op and key.
func wantErr(t *testing.T, err, sentinel error, op, key string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s %q: got error %v, want %v", op, key, err, sentinel)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s %q: error %v (%T) is not an *Error", op, key, err, err)
	}
	if e.Op != op || e.Key != key {
		t.Fatalf("%s %q: *Error has Op %q Key %q", op, key, e.Op, e.Key)
	}
}

func keysOf(infos []ObjectInfo) []string {
	keys := make([]string, len(infos))
	for i, info := range infos {
		keys[i] = info.Key
	}
	return keys
}

func mustList(t *testing.T, s Store, prefix string) []ObjectInfo {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

func testRoundTrip(t *testing.T, s Store) {
	for i, size := range []int{0, 1, 3<<20 + 7} {
		key := fmt.Sprintf("rt/%d/%08d.seg", i, size)
		data := randomBytes(uint64(i), size)
		mustPut(t, s, key, data)
		mustGet(t, s, key, data)
		infos := mustList(t, s, key)
		if len(infos) != 1 || infos[0].Key != key || infos[0].Size != int64(size) {
			t.Fatalf("List(%q) = %+v, want one object of %d bytes", key, infos, size)
		}
		if infos[0].LastModified.IsZero() {
			t.Errorf("List(%q): zero LastModified", key)
		}
	}
}

// testKeyCharacters checks that characters which need escaping in a URL or
// a shell survive a round trip and a list.
func testKeyCharacters(t *testing.T, s Store) {
	keys := []string{
		"chars/a b", "chars/plus+sign", "chars/percent%20", "chars/q?mark", "chars/hash#",
		"chars/amp&eq=", "chars/ü/日本.seg", "chars/tilde~", "chars/colon:star*", "chars/quote'\"",
	}
	for _, key := range keys {
		mustPut(t, s, key, []byte(key))
	}
	for _, key := range keys {
		mustGet(t, s, key, []byte(key))
	}
	slices.Sort(keys)
	if got := keysOf(mustList(t, s, "chars/")); !slices.Equal(got, keys) {
		t.Fatalf("List = %q, want %q", got, keys)
	}
}

func testOverwrite(t *testing.T, s Store) {
	mustPut(t, s, "ow/k", []byte("first, longer"))
	mustPut(t, s, "ow/k", []byte("second"))
	mustGet(t, s, "ow/k", []byte("second"))
	if infos := mustList(t, s, "ow/"); len(infos) != 1 || infos[0].Size != 6 {
		t.Fatalf("List = %+v, want one object of 6 bytes", infos)
	}
}

func testCallerOwnsBuffers(t *testing.T, s Store) {
	data := []byte("abc")
	mustPut(t, s, "buf/k", data)
	data[0] = 'X'
	got, err := s.Get(t.Context(), "buf/k")
	if err != nil {
		t.Fatal(err)
	}
	got[1] = 'Y'
	mustGet(t, s, "buf/k", []byte("abc"))
}

func testGetMissing(t *testing.T, s Store) {
	mustPut(t, s, "gm/present", []byte("x"))
	for _, key := range []string{"gm/absent", "gm/present/below", "gm", "nothing/at/all"} {
		_, err := s.Get(t.Context(), key)
		wantErr(t, err, ErrNotFound, "get", key)
		_, err = s.GetRange(t.Context(), key, 0, 1)
		wantErr(t, err, ErrNotFound, "get-range", key)
	}
}

func testPutIfAbsent(t *testing.T, s Store) {
	ctx := t.Context()
	if err := s.PutIfAbsent(ctx, "pia/k", []byte("first")); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	err := s.PutIfAbsent(ctx, "pia/k", []byte("second"))
	wantErr(t, err, ErrPreconditionFailed, "put-if-absent", "pia/k")
	mustGet(t, s, "pia/k", []byte("first"))

	// Over an object written by Put, and again once it is deleted.
	mustPut(t, s, "pia/p", []byte("put"))
	wantErr(t, s.PutIfAbsent(ctx, "pia/p", nil), ErrPreconditionFailed, "put-if-absent", "pia/p")
	if err := s.Delete(ctx, "pia/p"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "pia/p", []byte("again")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	mustGet(t, s, "pia/p", []byte("again"))

	// A failed PutIfAbsent leaves nothing behind (no temporary objects).
	if got := keysOf(mustList(t, s, "pia/")); !slices.Equal(got, []string{"pia/k", "pia/p"}) {
		t.Fatalf("List = %q", got)
	}
}

func testPutIfAbsentRace(t *testing.T, s Store) {
	const n = 8
	var (
		wg   sync.WaitGroup
		errs [n]error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.PutIfAbsent(t.Context(), "race/k", randomBytes(uint64(i), 64<<10))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, err, ErrPreconditionFailed, "put-if-absent", "race/k")
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	mustGet(t, s, "race/k", randomBytes(uint64(winner), 64<<10))
	if got := keysOf(mustList(t, s, "race/")); !slices.Equal(got, []string{"race/k"}) {
		t.Fatalf("List = %q", got)
	}
}

func testGetRange(t *testing.T, s Store) {
	data := randomBytes(7, 100)
	mustPut(t, s, "gr/k", data)
	mustPut(t, s, "gr/empty", nil)
	for _, tc := range []struct {
		offset, length int64
		want           []byte
	}{
		{0, 10, data[:10]},       // start
		{40, 20, data[40:60]},    // middle
		{99, 1, data[99:]},       // last byte
		{0, 100, data},           // exactly all
		{90, 50, data[90:]},      // clipped end
		{0, math.MaxInt64, data}, // clipped, without overflow
		{1, math.MaxInt64, data[1:]},
	} {
		got, err := s.GetRange(t.Context(), "gr/k", tc.offset, tc.length)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", tc.offset, tc.length, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("GetRange(%d, %d) = %d bytes, want %d", tc.offset, tc.length, len(got), len(tc.want))
		}
	}
	for _, tc := range []struct {
		key            string
		offset, length int64
	}{
		{"gr/k", 100, 1},  // offset == size
		{"gr/k", 101, 10}, // past the end
		{"gr/k", -1, 10},  // negative offset
		{"gr/k", 0, 0},    // zero length
		{"gr/k", 5, -1},   // negative length
		{"gr/empty", 0, 1},
		{"gr/missing", -1, 1}, // refused before the lookup
		{"gr/missing", 0, 0},
	} {
		_, err := s.GetRange(t.Context(), tc.key, tc.offset, tc.length)
		wantErr(t, err, ErrInvalidRange, "get-range", tc.key)
	}
}

func testList(t *testing.T, s Store) {
	keys := []string{
		"ls/a-", "ls/a.x", "ls/a/b/c", "ls/a/b/d", "ls/a/bc", "ls/a/b.x",
		"ls/ab/1", "ls/b/1", "ls/n/1/2/3/4/5/deep", "ls/Z",
	}
	for i, key := range keys {
		mustPut(t, s, key, randomBytes(uint64(i), i))
	}
	// A failed conditional write must leave no trace in a list either.
	_ = s.PutIfAbsent(t.Context(), "ls/a/b/c", []byte("loser"))
	sorted := slices.Sorted(slices.Values(keys))
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"ls/", sorted},
		{"ls", sorted},
		{"", sorted},
		{"ls/a/b", []string{"ls/a/b.x", "ls/a/b/c", "ls/a/b/d", "ls/a/bc"}}, // ends mid-name
		{"ls/a/b/", []string{"ls/a/b/c", "ls/a/b/d"}},
		{"ls/a", []string{"ls/a-", "ls/a.x", "ls/a/b.x", "ls/a/b/c", "ls/a/b/d", "ls/a/bc", "ls/ab/1"}},
		{"ls/a/b/c", []string{"ls/a/b/c"}},
		{"ls/n/1/2", []string{"ls/n/1/2/3/4/5/deep"}},
		{"ls/z", nil},
		{"ls/nothing/", nil},
		{"ls//", nil},
		{"ls/../", nil},
		{"nothing", nil},
	} {
		infos := mustList(t, s, tc.prefix)
		if got := keysOf(infos); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		for _, info := range infos {
			i := slices.Index(keys, info.Key)
			if info.Size != int64(i) {
				t.Errorf("List(%q): %s has size %d, want %d", tc.prefix, info.Key, info.Size, i)
			}
		}
	}
}

func testDelete(t *testing.T, s Store) {
	ctx := t.Context()
	mustPut(t, s, "del/a/k", []byte("x"))
	mustPut(t, s, "del/a/keep", []byte("y"))
	if err := s.Delete(ctx, "del/a/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Get(ctx, "del/a/k")
	wantErr(t, err, ErrNotFound, "get", "del/a/k")
	if got := keysOf(mustList(t, s, "del/")); !slices.Equal(got, []string{"del/a/keep"}) {
		t.Fatalf("List after Delete = %q", got)
	}
	for _, key := range []string{"del/a/k", "del/never", "del/no/such/dir"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q) of a missing key: %v", key, err)
		}
	}
	mustGet(t, s, "del/a/keep", []byte("y"))
}

func testInvalidKey(t *testing.T, s Store) {
	ctx := t.Context()
	bad := []string{
		"", "/abs", "trailing/", "a//b", "./a", "a/./b", "a/../b", "..", ".",
		`a\b`, "nul\x00", "new\nline", "del\x7f", "bad\xffutf8", strings.Repeat("k", MaxKeyLen+1),
	}
	for _, key := range bad {
		wantErr(t, s.Put(ctx, key, []byte("x")), ErrInvalidKey, "put", key)
		wantErr(t, s.PutIfAbsent(ctx, key, []byte("x")), ErrInvalidKey, "put-if-absent", key)
		_, err := s.Get(ctx, key)
		wantErr(t, err, ErrInvalidKey, "get", key)
		_, err = s.GetRange(ctx, key, 0, 1)
		wantErr(t, err, ErrInvalidKey, "get-range", key)
		wantErr(t, s.Delete(ctx, key), ErrInvalidKey, "delete", key)
	}
	if infos := mustList(t, s, ""); len(infos) != 0 {
		t.Fatalf("invalid keys wrote %q", keysOf(infos))
	}
}

func testContextCanceled(t *testing.T, s Store) {
	mustPut(t, s, "cc/present", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	wantErr(t, s.Put(ctx, "cc/new", []byte("x")), context.Canceled, "put", "cc/new")
	wantErr(t, s.PutIfAbsent(ctx, "cc/new", []byte("x")), context.Canceled, "put-if-absent", "cc/new")
	_, err := s.Get(ctx, "cc/present")
	wantErr(t, err, context.Canceled, "get", "cc/present")
	_, err = s.GetRange(ctx, "cc/present", 0, 1)
	wantErr(t, err, context.Canceled, "get-range", "cc/present")
	_, err = s.List(ctx, "cc/")
	wantErr(t, err, context.Canceled, "list", "cc/")
	wantErr(t, s.Delete(ctx, "cc/present"), context.Canceled, "delete", "cc/present")

	// Nothing was written or deleted.
	if got := keysOf(mustList(t, s, "cc/")); !slices.Equal(got, []string{"cc/present"}) {
		t.Fatalf("List = %q", got)
	}
}
