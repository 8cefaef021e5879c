package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// managedEnv is the environment of a managed cell's parts: PostgreSQL, an
// embedded NATS, a file object store, authentication on with fixed keys,
// usage booked every second.
func managedEnv(t *testing.T, cell string) func(string) string {
	t.Helper()
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	pepper := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("p", 32)))
	return envOf(map[string]string{
		"STREAMHOUSE_NATS_URL":       ns.ClientURL(),
		"STREAMHOUSE_REGISTRY":       pgtest.URL(t),
		"STREAMHOUSE_OBJECT_STORE":   "file:" + t.TempDir(),
		"STREAMHOUSE_CELL":           cell,
		"STREAMHOUSE_LOG_LEVEL":      "warn",
		"STREAMHOUSE_TOKEN_KEY":      key,
		"STREAMHOUSE_KEY_PEPPER":     pepper,
		"STREAMHOUSE_METER_INTERVAL": "1s",
	})
}

// TestMeteringAcrossAgentRestart is issue 7's metering test: on a managed
// cell (a router and an agent as separate parts, PostgreSQL), an
// organization produces and consumes known amounts, its agent restarts, an
// idempotent batch acknowledged before the restart is resent (the new
// owner answers it as a duplicate: not counted again), more is produced
// and consumed, and the router restarts too. The month's usage and
// invoice then count exactly what was produced and consumed: every record
// and every byte, once.
func TestMeteringAcrossAgentRestart(t *testing.T) {
	env := managedEnv(t, "meter")
	agentArgs := []string{"--agent-id", "a1", "--lease-ttl", "1s", "--health-addr", "127.0.0.1:0"}
	routerArgs := []string{"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "127.0.0.1:0"}
	agent := startPart(t, "agent", runAgent, env, agentArgs...)
	rt := startPart(t, "router", runRouter, env, routerArgs...)
	agent.waitReady(t)
	rt.waitReady(t)
	base := rt.addr["http:"]

	org := signUp(t, base, "meter@example.com", "org-meter")
	must(t, http.StatusOK, "PUT", base+"/api/v1/org/plan", org.token, `{"plan":"starter"}`)
	_, key := org.newKey(t, base, "meter", "member")
	must(t, http.StatusCreated, "POST", base+"/api/v1/topics", org.token, `{"name":"metered","partitions":2}`)

	var want struct{ records, bytes int64 }
	// batch is an idempotent producer's batch to partition p: n records
	// with keys and values of known sizes.
	batch := func(p, seq, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, `{"producer_id":%d,"sequence":%d,"records":[`, 100+p, seq)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			k, v := fmt.Sprintf("key-%d", seq+i), strings.Repeat("v", 10+seq+i)
			fmt.Fprintf(&b, `{"partition":%d,"key":%q,"value":%q}`, p, k, v)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	size := func(seq, n int) int64 {
		var s int64
		for i := range n {
			s += int64(len(fmt.Sprintf("key-%d", seq+i)) + 10 + seq + i)
		}
		return s
	}
	produce := func(p, seq, n int, counted bool) {
		t.Helper()
		must(t, http.StatusOK, "POST", base+"/api/v1/topics/metered/records", key, batch(p, seq, n))
		if counted {
			want.records += int64(n)
			want.bytes += size(seq, n)
		}
	}
	conn := dialGRPC(t, rt.addr["grpc:"])
	consumer := shv1.NewConsumerServiceClient(conn)
	var consumed struct{ records, bytes int64 }
	consume := func(p int32, from int64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bearerCtx(context.Background(), key), 30*time.Second)
		defer cancel()
		for off := from; ; {
			resp, err := consumer.Fetch(ctx, &shv1.FetchRequest{Topic: "metered", Partition: p, Offset: off})
			if err != nil {
				t.Fatalf("fetch partition %d at %d: %v", p, off, err)
			}
			for _, r := range resp.Records {
				consumed.records++
				consumed.bytes += int64(len(r.Key) + len(r.Value))
			}
			if len(resp.Records) == 0 || resp.NextOffset >= resp.HighWatermark {
				return
			}
			off = resp.NextOffset
		}
	}

	produce(0, 0, 10, true)
	produce(1, 0, 4, true)
	consume(0, 0)
	consume(1, 0)

	agent.stop(t)
	agent = startPart(t, "agent", runAgent, env, agentArgs...)
	agent.waitReady(t)
	// The first batch again: acknowledged with its first offsets, not
	// written, not counted. The new owner may need a moment to take the
	// partition: retry while the answer is 503.
	waitFor(t, 30*time.Second, "the resent batch is acknowledged", func() (bool, string) {
		status, out := call(t, "POST", base+"/api/v1/topics/metered/records", key, batch(0, 0, 10))
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, out)
	})
	produce(0, 10, 6, true)
	consume(0, 10)

	rt.stop(t) // books what it metered on its way out
	rt = startPart(t, "router", runRouter, env, routerArgs...)
	rt.waitReady(t)
	base = rt.addr["http:"]
	conn = dialGRPC(t, rt.addr["grpc:"])
	consumer = shv1.NewConsumerServiceClient(conn)
	produce(1, 4, 3, true)
	consume(1, 4)
	if consumed.records != want.records || consumed.bytes != want.bytes {
		t.Fatalf("consumed %d records %d bytes, produced %d and %d: the test's own arithmetic is off", consumed.records, consumed.bytes, want.records, want.bytes)
	}

	type usage struct {
		RecordsProduced int64 `json:"records_produced"`
		BytesProduced   int64 `json:"bytes_produced"`
		RecordsConsumed int64 `json:"records_consumed"`
		BytesConsumed   int64 `json:"bytes_consumed"`
	}
	wantUsage := usage{want.records, want.bytes, consumed.records, consumed.bytes}
	var got struct {
		Usage usage `json:"usage"`
	}
	waitFor(t, 20*time.Second, "the month's usage", func() (bool, string) {
		out := must(t, http.StatusOK, "GET", base+"/api/v1/billing/usage", org.token, "")
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("usage %s: %v", out, err)
		}
		return got.Usage == wantUsage, fmt.Sprintf("usage %+v, want %+v", got.Usage, wantUsage)
	})
	// Booked once: it stays exact after more flushes.
	time.Sleep(2500 * time.Millisecond)
	out := must(t, http.StatusOK, "GET", base+"/api/v1/billing/usage", org.token, "")
	if err := json.Unmarshal(out, &got); err != nil || got.Usage != wantUsage {
		t.Fatalf("usage later %s (%v), want %+v", out, err, wantUsage)
	}

	var inv struct {
		Plan  string `json:"plan"`
		Month string `json:"month"`
		Usage usage  `json:"usage"`
		Lines []struct {
			Description string `json:"description"`
			AmountCents int64  `json:"amount_cents"`
		} `json:"lines"`
		TotalCents int64 `json:"total_cents"`
	}
	out = must(t, http.StatusOK, "GET", base+"/api/v1/billing/invoice", org.token, "")
	if err := json.Unmarshal(out, &inv); err != nil {
		t.Fatalf("invoice %s: %v", out, err)
	}
	var sum int64
	for _, l := range inv.Lines {
		sum += l.AmountCents
	}
	if inv.Plan != "starter" || inv.Month != time.Now().UTC().Format("2006-01") || inv.Usage != wantUsage ||
		len(inv.Lines) == 0 || inv.Lines[0].AmountCents <= 0 || inv.TotalCents != sum {
		t.Fatalf("invoice %s: want plan starter, this month, usage %+v, a base line, lines adding up to the total", out, wantUsage)
	}
}
