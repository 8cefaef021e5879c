package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// TestDevCellAdmin drives the admin API of a dev cell wired as runDev wires
// it: the agents' leases through cells.Cluster, group ops through the
// group coordinators over NATS.
func TestDevCellAdmin(t *testing.T) {
	cell := startDev(t, t.TempDir())
	cell.post(t, "/api/v1/topics", `{"name":"orders","partitions":2}`, http.StatusCreated)

	type agent struct {
		ID         string `json:"id"`
		Live       bool   `json:"live"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		} `json:"partitions"`
	}
	owned := func(n int) func() (bool, string) {
		return func() (bool, string) {
			var out struct {
				Agents []agent `json:"agents"`
			}
			body := cell.get(t, "/api/v1/agents", http.StatusOK)
			if err := json.Unmarshal(body, &out); err != nil {
				return false, err.Error()
			}
			return len(out.Agents) == 1 && out.Agents[0].Live && len(out.Agents[0].Partitions) == n, string(body)
		}
	}
	waitFor(t, 15*time.Second, "the agent owns both partitions", owned(2))

	cell.post(t, "/api/v1/topics/orders/partitions", `{"partitions":4}`, http.StatusOK)
	waitFor(t, 15*time.Second, "the agent owns the added partitions", owned(4))
	cell.produce(t, "orders", 0, 20)

	var topic struct {
		Partitions    int32 `json:"partitions"`
		PartitionInfo []struct {
			Owner             string `json:"owner"`
			LiveHighWatermark *int64 `json:"live_high_watermark"`
		} `json:"partition_info"`
	}
	if err := json.Unmarshal(cell.get(t, "/api/v1/topics/orders", http.StatusOK), &topic); err != nil {
		t.Fatal(err)
	}
	var live int64
	for i, p := range topic.PartitionInfo {
		if p.Owner == "" || p.LiveHighWatermark == nil {
			t.Fatalf("partition %d: owner %q, live high watermark %v", i, p.Owner, p.LiveHighWatermark)
		}
		live += *p.LiveHighWatermark
	}
	if topic.Partitions != 4 || len(topic.PartitionInfo) != 4 || live != 20 {
		t.Fatalf("describe: %d partitions, %d described, %d records live", topic.Partitions, len(topic.PartitionInfo), live)
	}

	_, err := cell.grpc.CommitOffsets(t.Context(), &streamhousev1.CommitOffsetsRequest{Group: "billing",
		Offsets: []*streamhousev1.PartitionOffset{{Topic: "orders", Partition: 0, Offset: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cell.get(t, "/api/v1/groups", http.StatusOK)); got != `{"groups":["billing"]}`+"\n" {
		t.Fatalf("groups: %s", got)
	}
	var group struct {
		State   string `json:"state"`
		Offsets []struct {
			Partition int32 `json:"partition"`
			Committed int64 `json:"committed"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(cell.get(t, "/api/v1/groups/billing", http.StatusOK), &group); err != nil {
		t.Fatal(err)
	}
	if group.State != "Empty" || len(group.Offsets) != 4 || group.Offsets[0].Committed != 0 || group.Offsets[1].Committed != -1 {
		t.Fatalf("group: %+v", group)
	}
	cell.post(t, "/api/v1/groups/billing/reset", `{"topic":"orders","to":"latest"}`, http.StatusOK)
	cell.do(t, "DELETE", "/api/v1/groups/billing", http.StatusNoContent)
	cell.do(t, "DELETE", "/api/v1/groups/billing", http.StatusNotFound)
}

func (c *devCell) get(t *testing.T, path string, wantStatus int) []byte {
	t.Helper()
	return c.do(t, "GET", path, wantStatus)
}

func (c *devCell) do(t *testing.T, method, path string, wantStatus int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.http+path, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, wantStatus)
	}
	return out
}
