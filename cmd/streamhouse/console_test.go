package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/dashboard"
)

// TestConsoleOnDevCell reads the console's WebSocket of a dev cell without
// a browser: the snapshot shows what the API and the metrics say.
func TestConsoleOnDevCell(t *testing.T) {
	cell := startDev(t, t.TempDir())
	cell.post(t, "/api/v1/topics", `{"name":"metered","partitions":2}`, http.StatusCreated)
	cell.produce(t, "metered", 0, 10)

	resp, err := http.Get(cell.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "StreamHouse console") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, page)
	}

	wsURL := "ws" + strings.TrimPrefix(cell.http, "http") + dashboard.WSPath
	// Another site's page cannot read the cell through a visitor's browser.
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"http://evil.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: %v %v", err, resp)
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {cell.http}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]int{"refresh_ms": 500}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s dashboard.Snapshot
		_ = conn.SetReadDeadline(deadline)
		if err := conn.ReadJSON(&s); err != nil {
			t.Fatalf("no snapshot showed the topic and its metrics: %v", err)
		}
		if s.Type != "snapshot" || len(s.Topics) != 1 || s.Topics[0].Records != 10 || len(s.Agents) != 1 || len(s.Agents[0].Partitions) != 2 {
			continue
		}
		if s.Health["registry"] != "ok" || s.Health["nats"] != "ok" {
			t.Fatalf("health %v", s.Health)
		}
		produced := 0.0
		for _, m := range s.Metrics["streamhouse_produce_records_total"].Samples {
			if m.Labels["topic"] == "metered" {
				produced = m.Value
			}
		}
		if produced == 10 {
			return
		}
	}
}
