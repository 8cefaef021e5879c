package cells

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedNATSStartsOnFreePort(t *testing.T) {
	t.Parallel()
	a, b := startNATS(t), startNATS(t)
	if a.ClientURL() == b.ClientURL() {
		t.Fatalf("two servers share %s", a.ClientURL())
	}
	for _, srv := range []*EmbeddedNATS{a, b} {
		if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(srv.ClientURL(), ":4222") {
			t.Errorf("ClientURL() = %s, want a free port on 127.0.0.1", srv.ClientURL())
		}
		js := connectJS(t, srv.ClientURL())
		if _, err := js.AccountInfo(testCtx(t)); err != nil {
			t.Errorf("JetStream on %s: %v", srv.ClientURL(), err)
		}
	}

	a.Shutdown()
	a.Shutdown() // a second call is a no-op
	if nc, err := nats.Connect(a.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Errorf("connected to %s after Shutdown", a.ClientURL())
	}
}

// TestEmbeddedNATSSync checks that the durable setting is the default and
// that an interval reaches JetStream.
func TestEmbeddedNATSSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		interval time.Duration
		always   bool
	}{{0, true}, {time.Minute, false}} {
		srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: t.TempDir(), SyncInterval: tc.interval})
		if err != nil {
			t.Fatal(err)
		}
		jsc := srv.srv.JetStreamConfig()
		srv.Shutdown()
		if jsc.SyncAlways != tc.always || (!tc.always && jsc.SyncInterval != tc.interval) {
			t.Errorf("SyncInterval %s: JetStream runs with sync always %t, interval %s", tc.interval, jsc.SyncAlways, jsc.SyncInterval)
		}
	}
}

func TestEmbeddedNATSInProcess(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	nc, err := nats.Connect("", srv.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(testCtx(t)); err != nil {
		t.Fatalf("JetStream in process: %v", err)
	}
}

func TestEmbeddedNATSRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, cfg := range map[string]EmbeddedNATSConfig{
		"no dir":                 {},
		"negative port":          {Dir: dir, Port: -1},
		"port too large":         {Dir: dir, Port: 70000},
		"negative sync interval": {Dir: dir, SyncInterval: -time.Second},
	} {
		if srv, err := StartEmbeddedNATS(cfg); err == nil {
			srv.Shutdown()
			t.Errorf("%s: StartEmbeddedNATS(%+v) succeeded", name, cfg)
		}
	}
}

func TestEmbeddedNATSReportsTakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: t.TempDir(), Port: port, StartTimeout: 20 * time.Second})
	if err == nil {
		srv.Shutdown()
		t.Fatalf("started on port %d, which is taken", port)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error %q does not name port %d", err, port)
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's logging goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestEmbeddedNATSLogsThroughSlog(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	got := out.String()
	for _, want := range []string{"component=nats-server", "Starting nats-server", "Server is ready"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "level=DEBUG") {
		t.Errorf("debug lines logged at Info level:\n%s", got)
	}
}

// TestEmbeddedNATSRestartKeepsData restarts a sync-always server on its
// folder: a WAL-like stream's messages and a held lease are still there.
func TestEmbeddedNATSRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	key := LeaseKey{Tenant: 1, Topic: 2, Partition: 0}

	srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: dir, SyncInterval: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	js := connectJS(t, srv.ClientURL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "sh_dev_wal", Subjects: []string{"sh.dev.wal.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := js.Publish(ctx, "sh.dev.wal.1.2.0", fmt.Appendf(nil, "batch %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	leases := openTestLeases(t, js, "dev", "agent-a", time.Minute)
	lease, err := leases.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()

	srv, err = StartEmbeddedNATS(EmbeddedNATSConfig{Dir: dir, SyncInterval: 0})
	if err != nil {
		t.Fatalf("restart on %s: %v", dir, err)
	}
	t.Cleanup(srv.Shutdown)
	js = connectJS(t, srv.ClientURL())
	stream, err := js.Stream(ctx, "sh_dev_wal")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 10 {
		t.Errorf("stream holds %d messages after restart, want 10", n)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, "sh.dev.wal.1.2.0")
	if err != nil || string(msg.Data) != "batch 9" || msg.Sequence != 10 {
		t.Errorf("last message after restart: %v, %v; want batch 9 at sequence 10", msg, err)
	}
	leases = openTestLeases(t, js, "dev", "agent-b", time.Minute)
	holder, rev, err := leases.Holder(ctx, key)
	if err != nil || holder != "agent-a" || rev != lease.Revision() {
		t.Errorf("lease after restart held by %q at revision %d (%v), want agent-a at %d", holder, rev, err, lease.Revision())
	}
	if _, err := leases.Acquire(ctx, key); !isHeldBy(err, "agent-a") {
		t.Errorf("acquire after restart: %v, want held by agent-a", err)
	}
}

// isHeldBy reports whether err is a *LeaseHeldError naming holder.
func isHeldBy(err error, holder string) bool {
	var held *LeaseHeldError
	return errors.As(err, &held) && held.Holder == holder
}
