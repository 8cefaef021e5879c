package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestDevSchemaRegistry: the dev cell serves the schema registry on its own
// listener, printed in the banner, for the default tenant; franz-go's client
// registers and reads back through it; strict produce-time validation set
// through it refuses bad records over HTTP and WebSocket; the registry stops
// with the cell.
func TestDevSchemaRegistry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
			"--schema-registry", "127.0.0.1:0", "--log-level", "warn"}, pw, io.Discard)
		pw.Close()
	}()
	var addr, httpAddr string
	sc := bufio.NewScanner(pr)
	for addr == "" && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "schemas:" {
			addr = f[1]
		}
		if len(f) >= 2 && f[0] == "http:" {
			httpAddr = f[1]
		}
	}
	go io.Copy(io.Discard, pr) // drain the rest so runDev never blocks on stdout
	if !strings.HasPrefix(addr, "http://127.0.0.1:") {
		cancel()
		t.Fatalf("banner shows schemas at %q (exit: %v)", addr, <-done)
	}
	// Stop only a started cell: the agent's start-up is not what this tests.
	waitFor(t, 10*time.Second, "dev cell ready", func() (bool, string) {
		resp, err := http.Get(httpAddr + "/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	cl, err := sr.NewClient(sr.URLs(addr))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSchema(t.Context(), "orders-value", sr.Schema{Schema: `{"type":"record","name":"O","fields":[{"name":"id","type":"long"}]}`})
	if err != nil || ss.ID != 1 || ss.Version != 1 {
		t.Fatalf("CreateSchema = %+v, %v", ss, err)
	}
	got, err := cl.SchemaByID(t.Context(), ss.ID)
	if err != nil || !strings.Contains(got.Schema, `"name":"O"`) {
		t.Fatalf("SchemaByID = %+v, %v", got, err)
	}
	produceValidated(t, httpAddr, cl, ss.ID)

	cancel()
	// An agent stopped while it is still starting reports the cancel
	// (cells' start-up, not the registry): that is a stop too.
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("dev cell exit: %v", err)
	}
	if _, err := cl.Subjects(context.Background()); err == nil {
		t.Error("the schema registry still answers after the cell stopped")
	}
}

// produceValidated turns on strict validation of the topic orders' values
// and produces through the dev cell's HTTP API: a record that breaks it is
// refused with its batch, naming the record; valid ones are written.
func produceValidated(t *testing.T, httpAddr string, cl *sr.Client, id int) {
	t.Helper()
	post := func(path, body string) (int, string) {
		resp, err := http.Post(httpAddr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := post("/api/v1/topics", `{"name":"orders","partitions":1}`); status != http.StatusCreated {
		t.Fatalf("create topic: %d %s", status, body)
	}
	// The record {"id": 7} in Avro's binary encoding (zigzag varint 14),
	// framed: magic byte 0, the 4-byte id, the payload.
	good := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0, byte(id), 14})
	bad := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0, byte(id)}) // no payload
	// Set before the topic's first produce: the router's validator trusts
	// what it read of a topic's rules for schema.RuleTTL.
	setValidation(t, cl, "orders-value", "STRICT")
	var status int
	var body string
	waitFor(t, 15*time.Second, "first produce", func() (bool, string) {
		status, body = post("/api/v1/topics/orders/records", `{"records":[{"value_b64":"`+good+`","partition":0}]}`)
		return status == http.StatusOK, body
	})
	if !strings.Contains(body, `"offset":0`) {
		t.Fatalf("first produce = %s", body)
	}
	status, body = post("/api/v1/topics/orders/records", `{"records":[{"value_b64":"`+good+`","partition":0},{"value_b64":"`+bad+`","partition":0}]}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "record 1: value: does not decode as schema id") {
		t.Fatalf("batch with an invalid record = %d %s, want 400 naming record 1", status, body)
	}
	status, body = post("/api/v1/topics/orders/records", `{"records":[{"value":"plain","partition":0}]}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "record 0: value: not in the schema registry's wire format") {
		t.Fatalf("plain record = %d %s, want 400", status, body)
	}
	// The WebSocket front door applies the same rule, frame by frame.
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(httpAddr, "http")+"/ws/produce?topic=orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"id": "f1", "value": "plain", "partition": 0}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || !strings.Contains(fmt.Sprint(ack["error"]), "record 0: value: not in the schema registry's wire format") {
		t.Fatalf("websocket frame without the wire format: ack %v, %v", ack, err)
	}
	// Nothing of the refused batches was written: the next offset is 1.
	status, body = post("/api/v1/topics/orders/records", `{"records":[{"value_b64":"`+good+`","partition":0}]}`)
	if status != http.StatusOK || !strings.Contains(body, `"offset":1`) {
		t.Fatalf("produce after refusals = %d %s, want offset 1", status, body)
	}
}

// setValidation sets a subject's produce-time validation through the
// registry's API (StreamHouse's own endpoint, through the client's Do).
func setValidation(t *testing.T, cl *sr.Client, subject, v string) {
	t.Helper()
	var out map[string]string
	if err := cl.Do(t.Context(), http.MethodPut, "/validation/"+subject, map[string]string{"validation": v}, &out); err != nil || out["validation"] != v {
		t.Fatalf("PUT /validation/%s = %v, %v", subject, out, err)
	}
}
