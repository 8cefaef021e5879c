package objectstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

func TestS3Multipart(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newTestS3(t, srv, S3Config{Prefix: "mp", MultipartThreshold: 5 << 20, PartSize: 5 << 20})
	ctx := t.Context()
	big := randomBytes(1, 12<<20) // three parts: 5, 5 and 2 MiB

	mustPut(t, s, "big", big)
	mustGet(t, s, "big", big)
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("mp/big")})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart object's ETag ends in "-<number of parts>".
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("ETag %s: not a three-part upload", etag)
	}
	// A range across the first part boundary.
	got, err := s.GetRange(ctx, "big", 5<<20-10, 20)
	if err != nil || !bytes.Equal(got, big[5<<20-10:5<<20+10]) {
		t.Fatalf("GetRange across parts: %d bytes, %v", len(got), err)
	}

	// A conditional multipart write over an existing key fails at Complete
	// and leaves the object as it was.
	other := randomBytes(2, 12<<20)
	wantErr(t, s.PutIfAbsent(ctx, "big", other), ErrPreconditionFailed, "put-if-absent", "big")
	mustGet(t, s, "big", big)
	if err := s.PutIfAbsent(ctx, "big2", other); err != nil {
		t.Fatalf("PutIfAbsent of a new large object: %v", err)
	}
	mustGet(t, s, "big2", other)

	// Overwrite with a large object, then with a small one.
	mustPut(t, s, "big", other)
	mustGet(t, s, "big", other)
	mustPut(t, s, "big", []byte("small"))
	mustGet(t, s, "big", []byte("small"))

	// The failed upload was aborted: no upload is left in progress.
	ups, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left in progress", len(ups.Uploads))
	}
}

func TestS3PrefixIsolates(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	a := newTestS3(t, srv, S3Config{Prefix: "/cell-a/"}) // slashes trimmed
	b := newTestS3(t, srv, S3Config{Prefix: "cell-b"})
	bare := newTestS3(t, srv, S3Config{})
	mustPut(t, a, "k", []byte("a"))
	mustPut(t, b, "k", []byte("b"))
	mustGet(t, a, "k", []byte("a"))
	mustGet(t, b, "k", []byte("b"))
	mustGet(t, bare, "cell-a/k", []byte("a"))
	if got := keysOf(mustList(t, a, "")); len(got) != 1 || got[0] != "k" {
		t.Fatalf("List in prefix = %q, want [k]", got)
	}
	if got := keysOf(mustList(t, bare, "")); len(got) != 2 {
		t.Fatalf("List of the bucket = %q, want both", got)
	}
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newTestS3(t, srv, S3Config{})
	s.cfg.Bucket = "no-such-bucket"
	_, err := s.Get(t.Context(), "k")
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get from a missing bucket: %v, want an error other than ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), "k"); err == nil {
		t.Fatal("Delete in a missing bucket succeeded")
	}
}

func TestS3ConfigDefaults(t *testing.T) {
	t.Parallel()
	var c S3Config
	c.EnsureDefaults()
	want := S3Config{
		Region: "us-east-1", MaxAttempts: 5, RetryBaseDelay: 100 * time.Millisecond,
		RetryMaxBackoff: 5 * time.Second, MultipartThreshold: 16 << 20, PartSize: 8 << 20,
		PartConcurrency: 4, RequestTimeout: 10 * time.Second,
	}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
	for name, cfg := range map[string]S3Config{
		"no bucket":      {},
		"small part":     {Bucket: "b", PartSize: 1 << 20},
		"huge threshold": {Bucket: "b", MultipartThreshold: 6 << 30},
		"negative tries": {Bucket: "b", MaxAttempts: -1},
		"invalid prefix": {Bucket: "b", Prefix: "a//b"},
		"no concurrency": {Bucket: "b", PartConcurrency: -2},
		"negative delay": {Bucket: "b", RetryBaseDelay: -time.Second},
	} {
		if _, err := NewS3(t.Context(), cfg); err == nil {
			t.Errorf("%s: NewS3 accepted %+v", name, cfg)
		}
	}
}

// fakeS3 answers every request with the statuses in order, then 200, and
// counts the requests.
func fakeS3(t *testing.T, replies ...string) (*S3, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		i := int(n.Add(1)) - 1
		if i >= len(replies) {
			w.WriteHeader(http.StatusOK)
			return
		}
		code, status, _ := strings.Cut(replies[i], " ")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(map[string]int{"503": 503, "412": 412, "409": 409, "500": 500}[code])
		_, _ = io.WriteString(w, "<Error><Code>"+status+"</Code><Message>fake</Message></Error>")
	}))
	t.Cleanup(srv.Close)
	s, err := NewS3(t.Context(), S3Config{
		Bucket: "b", Endpoint: srv.URL, UsePathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s",
		MaxAttempts: 3, RetryBaseDelay: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &n
}

func TestS3RetriesTransientErrors(t *testing.T) {
	t.Parallel()
	s, n := fakeS3(t, "503 SlowDown", "500 InternalError")
	if err := s.Put(t.Context(), "k", []byte("x")); err != nil {
		t.Fatalf("Put after two transient errors: %v", err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}

	s, n = fakeS3(t, "503 SlowDown", "503 SlowDown", "503 SlowDown", "503 SlowDown")
	err := s.Put(t.Context(), "k", []byte("x"))
	if err == nil || n.Load() != 3 {
		t.Fatalf("Put: %v after %d requests, want an error after MaxAttempts (3)", err, n.Load())
	}
}

func TestS3ConditionalStatuses(t *testing.T) {
	t.Parallel()
	s, n := fakeS3(t, "412 PreconditionFailed")
	wantErr(t, s.PutIfAbsent(t.Context(), "k", nil), ErrPreconditionFailed, "put-if-absent", "k")
	if n.Load() != 1 {
		t.Fatalf("412 was retried: %d requests", n.Load())
	}

	// 409 means "a conflicting write is in flight, retry": retried, then
	// reported as a plain error, since no object need exist.
	s, n = fakeS3(t, "409 ConditionalRequestConflict", "409 ConditionalRequestConflict", "409 ConditionalRequestConflict")
	if err := s.PutIfAbsent(t.Context(), "k", nil); err == nil || errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent after persistent 409: %v, want an error other than ErrPreconditionFailed", err)
	}
	if n.Load() != 3 {
		t.Fatalf("409 was tried %d times, want 3", n.Load())
	}
	s, _ = fakeS3(t, "409 ConditionalRequestConflict")
	if err := s.PutIfAbsent(t.Context(), "k", nil); err != nil {
		t.Fatalf("PutIfAbsent after one 409: %v", err)
	}
}

// stalledS3 returns a store whose server accepts connections and runs serve
// on each, with RequestTimeout 300 ms and two attempts per request.
func stalledS3(t *testing.T, serve func(net.Conn)) *S3 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	s, err := NewS3(t.Context(), S3Config{
		Bucket: "b", Endpoint: "http://" + ln.Addr().String(), UsePathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s",
		MaxAttempts: 2, RetryBaseDelay: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond,
		RequestTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A server that never answers fails the request after RequestTimeout,
// although the caller's context has no deadline.
func TestS3RequestTimeout(t *testing.T) {
	t.Parallel()
	silent := func(c net.Conn) {} // accepts, never reads nor answers
	s := stalledS3(t, silent)
	_, err := s.Get(context.Background(), "k")
	if err == nil {
		t.Fatal("Get from a silent server succeeded")
	}
	t.Logf("Get from a silent server: %v", err)
	// A body larger than the socket buffers: the writes themselves stall.
	err = s.Put(context.Background(), "k", make([]byte, 8<<20))
	if err == nil {
		t.Fatal("Put to a server that does not read succeeded")
	}
	t.Logf("Put to a server that does not read: %v", err)

	// Headers and part of the body, then nothing.
	s = stalledS3(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes")
	})
	_, err = s.Get(context.Background(), "k")
	if err == nil {
		t.Fatal("Get of a body that stalls succeeded")
	}
	t.Logf("Get of a body that stalls: %v", err)
}
