package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// TestDevCellEndToEnd runs the dev cell as `just run` does, on free ports:
// create a topic over HTTP, produce over HTTP, read every record back over
// gRPC; then restart the cell on the same data folder and find every record
// again at its offset, and produce on from where it stopped.
func TestDevCellEndToEnd(t *testing.T) {
	dir := t.TempDir()
	const partitions, perRun = 3, 60

	cell := startDev(t, dir)
	cell.post(t, "/api/v1/topics", `{"name":"orders","partitions":3}`, http.StatusCreated)
	want := cell.produce(t, "orders", 0, perRun)
	for k, v := range cell.produceWS(t, "orders", "over-websocket") {
		want[k] = v
	}
	cell.readAll(t, "orders", partitions, want)
	cell.idempotentProduce(t)
	cell.stop(t)

	cell = startDev(t, dir)
	cell.readAll(t, "orders", partitions, want)
	for k, v := range cell.produce(t, "orders", perRun, perRun) {
		want[k] = v
	}
	cell.readAll(t, "orders", partitions, want)
	cell.subscribeAll(t, "orders", want)
	cell.stop(t)
}

// subscribeAll joins a consumer group as its only member and reads until it
// has seen every record of want, each at its offset, exactly once.
func (c *devCell) subscribeAll(t *testing.T, topic string, want map[recordAt]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.grpc.Subscribe(ctx, &streamhousev1.SubscribeRequest{Group: "g1", Topics: []string{topic}, MaxWaitMs: 200})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	got := map[recordAt]string{}
	for len(got) < len(want) {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("subscribe stream after %d of %d records: %v", len(got), len(want), err)
		}
		for _, r := range ev.GetRecords().GetRecords() {
			at := recordAt{ev.GetRecords().GetPartition(), r.Offset}
			if _, dup := got[at]; dup {
				t.Fatalf("partition %d offset %d delivered twice", at.partition, at.offset)
			}
			got[at] = string(r.Value)
		}
	}
	for at, v := range want {
		if got[at] != v {
			t.Fatalf("group read partition %d offset %d = %q, want %q", at.partition, at.offset, got[at], v)
		}
	}
}

type devCell struct {
	http     string
	schemas  string // the schema registry's URL, or "off"
	grpcAddr string
	grpc     streamhousev1.ConsumerServiceClient
	conn     *grpc.ClientConn
	cancel   context.CancelFunc
	done     chan error
}

func startDev(t *testing.T, dir string) *devCell {
	t.Helper()
	return startDevWith(t, dir)
}

// startDevWith is startDev with more flags (--auth, --pricing, ...); the
// cell's schema registry address is in c.schemas.
func startDevWith(t *testing.T, dir string, flags ...string) *devCell {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	c := &devCell{cancel: cancel, done: make(chan error, 1)}
	args := append([]string{"--data-dir", dir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "127.0.0.1:0", "--lease-ttl", "1s", "--log-level", "warn"}, flags...)
	go func() {
		c.done <- runDev(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	var grpcAddr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() && c.schemas == "" {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "http:" {
			c.http = f[1]
		}
		if len(f) >= 2 && f[0] == "grpc:" {
			grpcAddr = f[1]
		}
		if len(f) >= 2 && f[0] == "schemas:" { // the banner's last address
			c.schemas = f[1]
		}
	}
	go io.Copy(io.Discard, pr) // drain the rest so runDev never blocks on stdout
	c.grpcAddr = grpcAddr
	if c.http == "" || grpcAddr == "" {
		cancel()
		t.Fatalf("dev cell printed no addresses (exit: %v)", <-c.done)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c.conn, c.grpc = conn, streamhousev1.NewConsumerServiceClient(conn)
	t.Cleanup(func() { c.stop(t) })

	resp, err := http.Get(c.http + "/ready")
	if err != nil {
		t.Fatalf("GET /ready: %v", err)
	}
	var report map[string]string
	err = json.NewDecoder(resp.Body).Decode(&report)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || report["registry"] != "ok" || report["objectstore"] != "ok" || report["nats"] != "ok" {
		t.Fatalf("GET /ready: status %d, report %v, decode error %v", resp.StatusCode, report, err)
	}
	return c
}

func (c *devCell) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	c.conn.Close()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("dev cell exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev cell did not stop within 60s")
	}
}

func (c *devCell) post(t *testing.T, path, body string, wantStatus int) []byte {
	t.Helper()
	resp, err := http.Post(c.http+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, out, wantStatus)
	}
	return out
}

type recordAt struct {
	partition int32
	offset    int64
}

// produce sends n keyed records in one request and returns value by place.
func (c *devCell) produce(t *testing.T, topic string, from, n int) map[recordAt]string {
	t.Helper()
	var body bytes.Buffer
	body.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"key":"k%d","value":"v%d"}`, (from+i)%7, from+i)
	}
	body.WriteString(`]}`)
	var reply struct {
		Offsets []struct {
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset"`
		} `json:"offsets"`
	}
	out := c.post(t, "/api/v1/topics/"+topic+"/records", body.String(), http.StatusOK)
	if err := json.Unmarshal(out, &reply); err != nil || len(reply.Offsets) != n {
		t.Fatalf("produce reply %s: %v", out, err)
	}
	got := map[recordAt]string{}
	for i, o := range reply.Offsets {
		got[recordAt{o.Partition, o.Offset}] = fmt.Sprint("v", from+i)
	}
	return got
}

// produceWS sends one record as a frame of /ws/produce and returns where
// its acknowledgement says it landed.
func (c *devCell) produceWS(t *testing.T, topic, value string) map[recordAt]string {
	t.Helper()
	url := "ws" + strings.TrimPrefix(c.http, "http") + "/ws/produce?topic=" + topic
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"id": "f1", "value": value}); err != nil {
		t.Fatal(err)
	}
	var ack struct {
		ID      string `json:"id"`
		Offsets []struct {
			Partition int32  `json:"partition"`
			Offset    *int64 `json:"offset"`
		} `json:"offsets"`
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.ID != "f1" || len(ack.Offsets) != 1 || ack.Offsets[0].Offset == nil {
		t.Fatalf("websocket ack %+v: %v", ack, err)
	}
	return map[recordAt]string{{ack.Offsets[0].Partition, *ack.Offsets[0].Offset}: value}
}

// readAll fetches every partition from offset 0 over gRPC and compares
// with want: every record at its offset, nothing else.
func (c *devCell) readAll(t *testing.T, topic string, partitions int32, want map[recordAt]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[recordAt]string{}
	for p := range partitions {
		for off := int64(0); ; {
			resp, err := c.grpc.Fetch(ctx, &streamhousev1.FetchRequest{Topic: topic, Partition: p, Offset: off})
			if err != nil {
				t.Fatalf("fetch %s/%d at %d: %v", topic, p, off, err)
			}
			for _, r := range resp.Records {
				got[recordAt{p, r.Offset}] = string(r.Value)
			}
			if resp.NextOffset >= resp.HighWatermark || len(resp.Records) == 0 {
				break
			}
			off = resp.NextOffset
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for at, v := range want {
		if got[at] != v {
			t.Fatalf("partition %d offset %d: read %q, want %q", at.partition, at.offset, got[at], v)
		}
	}
}

// idempotentProduce checks an idempotent producer over HTTP against the
// real partition: a resent batch gets its first offsets and is not written
// twice, a sequence gap is a 409, the next sequence goes on.
func (c *devCell) idempotentProduce(t *testing.T) {
	t.Helper()
	c.post(t, "/api/v1/topics", `{"name":"idem","partitions":1}`, http.StatusCreated)
	offsets := func(out []byte) []int64 {
		t.Helper()
		var reply struct {
			Offsets []struct {
				Partition int32  `json:"partition"`
				Offset    *int64 `json:"offset"`
			} `json:"offsets"`
		}
		if err := json.Unmarshal(out, &reply); err != nil {
			t.Fatalf("produce reply %s: %v", out, err)
		}
		var got []int64
		for _, o := range reply.Offsets {
			if o.Partition != 0 || o.Offset == nil {
				t.Fatalf("produce reply %s", out)
			}
			got = append(got, *o.Offset)
		}
		return got
	}
	const path = "/api/v1/topics/idem/records"
	first := `{"producer_id":42,"sequence":0,"records":[` +
		`{"value":"i0","partition":0},{"value":"i1","partition":0},{"value":"i2","partition":0}]}`
	got := offsets(c.post(t, path, first, http.StatusOK))
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("idempotent batch at offsets %v, want [0 1 2]", got)
	}
	if again := offsets(c.post(t, path, first, http.StatusOK)); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Fatalf("resent batch at offsets %v, want the first answer's %v", again, got)
	}
	out := c.post(t, path, `{"producer_id":42,"sequence":5,"records":[{"value":"gap","partition":0}]}`, http.StatusConflict)
	var gap struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(out, &gap); err != nil || gap.Error.Code != "sequence_gap" {
		t.Fatalf("sequence gap answer %s (%v), want the code sequence_gap", out, err)
	}
	if next := offsets(c.post(t, path, `{"producer_id":42,"sequence":3,"records":[{"value":"i3","partition":0}]}`, http.StatusOK)); fmt.Sprint(next) != "[3]" {
		t.Fatalf("next batch at offsets %v, want [3]", next)
	}
	// Exactly the four records, once each.
	c.readAll(t, "idem", 1, map[recordAt]string{{0, 0}: "i0", {0, 1}: "i1", {0, 2}: "i2", {0, 3}: "i3"})
}
