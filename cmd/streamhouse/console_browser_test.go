package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// chromiumPath is Debian's Chromium (apt-get install chromium; .ci/run
// installs it).
const chromiumPath = "/usr/bin/chromium"

// TestConsoleInBrowser drives the console in a real headless Chromium
// against a dev cell: settings, create a topic in the UI, produce through
// the API and see throughput and the records, watch a group's lag rise and
// fall, reset its offsets from the UI, delete the topic from the UI. Every
// page is screenshotted into $STREAMHOUSE_SCREENSHOTS, or the test's
// artifact folder (kept with `go test -artifacts -outputdir DIR`).
func TestConsoleInBrowser(t *testing.T) {
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	shots := os.Getenv("STREAMHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", shots)

	cell := startDev(t, t.TempDir())
	b := newBrowser(t, shots)

	// Page load: from navigation to the first snapshot on screen, in a
	// browser already started.
	b.do(chromedp.Navigate("about:blank"))
	var (
		exMu       sync.Mutex
		exceptions []string // uncaught errors of the page's scripts
	)
	err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			exMu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			exceptions = append(exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			exMu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.do(chromedp.Navigate(cell.http + "/#/overview"))
	loaded := time.Since(start)
	b.waitJS(`Number(document.body.dataset.updated) > 0`, "the first snapshot")
	firstData := time.Since(start)
	dcl := b.evalFloat(`performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`)
	t.Logf("page load on localhost: navigation done in %v, DOMContentLoaded at %.0f ms, first live data at %v", loaded, dcl, firstData)
	b.waitJS(`document.querySelector("#conn").textContent === "live"`, "the connection indicator")

	// Settings: a fast refresh for the rest of the test.
	b.do(chromedp.Navigate(cell.http + "/#/settings"))
	b.do(chromedp.SetValue(chromedp.CSS("#set-refresh"), "500"), chromedp.Click(chromedp.CSS("#set-save")))
	b.waitJS(`JSON.parse(localStorage.getItem("streamhouse.console.settings")).refreshMs === 500`, "the saved refresh rate")
	b.shot("settings")

	// Create a topic, first refused for its name.
	b.do(chromedp.Navigate(cell.http + "/#/topics"))
	b.do(chromedp.SendKeys(chromedp.CSS("#new-topic-name"), "bad name!"))
	b.waitJS(`document.querySelector("#new-topic-error").textContent.includes("not allowed")`, "the name's validation message")
	b.do(chromedp.SetValue(chromedp.CSS("#new-topic-name"), "orders-ui"),
		chromedp.SetValue(chromedp.CSS("#new-topic-partitions"), "2"), chromedp.Click(chromedp.CSS("#create-topic-btn")))
	b.waitJS(`[...document.querySelectorAll("#topics-table a.topic-link")].some(a => a.textContent === "orders-ui")`, "the new topic in the list")
	b.shot("topics")

	// Produce through the API while the overview shows throughput.
	b.do(chromedp.Navigate(cell.http + "/#/overview"))
	stopProducing := produceInBackground(t, cell, "orders-ui")
	b.waitJS(`document.querySelector("#card-throughput .card-value").textContent !== "0.0/s"`, "throughput on the overview")
	b.shot("overview")
	total := stopProducing()

	// The records in the topic's page.
	b.do(chromedp.Navigate(cell.http + "/#/topics/orders-ui"))
	b.waitJS(fmt.Sprintf(`document.querySelector("#topic-records")?.textContent.replaceAll(",", "") === "%d"`, total), "the topic's record count")
	b.do(chromedp.Click(chromedp.CSS("#rb-load")))
	rows, first := firstRecords(t, cell, "orders-ui", 0)
	b.waitJS(fmt.Sprintf(`document.querySelectorAll("#records-table tbody tr").length === %d && document.querySelector("#records-table").textContent.includes('"n": %d')`, rows, first),
		"partition 0's records in the browser")
	b.shot("topic")

	// A group's lag rises with new records and falls when it commits.
	consumer := cell.grpc
	commit := func(offsets map[int32]int64) {
		t.Helper()
		req := &streamhousev1.CommitOffsetsRequest{Group: "ui-readers"}
		for p, o := range offsets {
			req.Offsets = append(req.Offsets, &streamhousev1.PartitionOffset{Topic: "orders-ui", Partition: p, Offset: o})
		}
		if _, err := consumer.CommitOffsets(context.Background(), req); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	commit(map[int32]int64{0: 0, 1: 0})
	b.do(chromedp.Navigate(cell.http + "/#/groups/ui-readers"))
	lagIs := func(n int) string {
		return fmt.Sprintf(`document.querySelector("#group-lag")?.textContent.replaceAll(",", "") === "%d"`, n)
	}
	b.waitJS(lagIs(total), "the group's lag at every record")
	more := produce(t, cell, "orders-ui", total, 40)
	b.waitJS(lagIs(total+more), "the lag rising")
	hw := highWatermarks(t, cell, "orders-ui")
	commit(hw)
	b.waitJS(lagIs(0), "the lag falling to 0")
	b.shot("group")

	// Reset its offsets from the UI: back to the earliest, all lag again.
	b.do(chromedp.Click(chromedp.CSS("#reset-btn")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS(lagIs(total+more), "the lag after the reset to earliest")
	b.do(chromedp.Navigate(cell.http + "/#/groups"))
	b.waitJS(`document.querySelector("[data-lag='ui-readers']") !== null`, "the group list")
	b.shot("groups")

	for _, page := range []string{"producers", "storage", "agents"} {
		b.do(chromedp.Navigate(cell.http + "/#/" + page))
		b.waitJS(fmt.Sprintf(`document.body.dataset.page === %q && Number(document.body.dataset.updated) > 0`, page), page)
		b.shot(page)
	}
	b.waitJS(`document.querySelector("#agents table").textContent.includes("live")`, "a live agent")

	// A narrow screen: the menu folds away.
	b.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(cell.http+"/#/overview"))
	b.waitJS(`getComputedStyle(document.querySelector("#nav")).display === "none"`, "the folded menu")
	b.shot("overview-narrow")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Delete the topic from the UI, after the confirmation.
	b.do(chromedp.Navigate(cell.http + "/#/topics"))
	b.waitJS(`document.querySelector("[data-delete='orders-ui']") !== null`, "the delete button")
	b.do(chromedp.Click(chromedp.CSS("[data-delete='orders-ui']")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS(`document.querySelector("[data-delete='orders-ui']") === null && document.querySelector("#topics-table").textContent.includes("no data")`, "the topic gone")
	resp, err := http.Get(cell.http + "/api/v1/topics/orders-ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after the UI's delete the API answers %d, want 404", resp.StatusCode)
	}

	exMu.Lock()
	if len(exceptions) > 0 {
		t.Errorf("the page threw: %q", exceptions)
	}
	exMu.Unlock()

	// The cell goes away: the indicator says so and the page keeps trying.
	cell.stop(t)
	b.waitJS(`document.querySelector("#conn").textContent !== "live"`, "the indicator to leave live")
	b.shot("disconnected")
}

// browser is one headless Chromium tab of a test.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func newBrowser(t *testing.T, shots string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // stops the browser and waits for it
	})
	return &browser{t: t, ctx: ctx, shots: shots}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failure")
		b.t.Fatalf("browser: %v", err)
	}
}

// waitJS waits up to 30 s for expr to be true in the page.
func (b *browser) waitJS(expr, what string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		b.shot("failure")
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		b.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, body)
	}
}

func (b *browser) evalFloat(expr string) float64 {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a full-page screenshot as <name>.png (quality 100 is PNG; less is JPEG).
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}

// produceInBackground produces numbered JSON records in batches until the
// returned func is called; that stops it, waits, and returns how many were
// produced.
func produceInBackground(t *testing.T, cell *devCell, topic string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		n   int
		err error
	)
	wg.Go(func() {
		for ctx.Err() == nil && err == nil {
			var k int
			k, err = produceBatch(cell, topic, n, 25)
			n += k
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	stop := func() int {
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		return n
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return stop
}

// produce sends n records numbered from `from` and returns n.
func produce(t *testing.T, cell *devCell, topic string, from, n int) int {
	t.Helper()
	k, err := produceBatch(cell, topic, from, n)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return k
}

func produceBatch(cell *devCell, topic string, from, n int) (int, error) {
	var body strings.Builder
	body.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"key":"k%d","value":"{\"n\": %d}"}`, (from+i)%5, from+i)
	}
	body.WriteString(`]}`)
	resp, err := http.Post(cell.http+"/api/v1/topics/"+topic+"/records", "application/json", strings.NewReader(body.String()))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("produce to %s: status %d", topic, resp.StatusCode)
	}
	return n, nil
}

// highWatermarks reads the topic's live high watermarks through the API.
func highWatermarks(t *testing.T, cell *devCell, topic string) map[int32]int64 {
	t.Helper()
	resp, err := http.Get(cell.http + "/api/v1/topics/" + topic)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		PartitionInfo []struct {
			Partition         int32  `json:"partition"`
			HighWatermark     int64  `json:"high_watermark"`
			LiveHighWatermark *int64 `json:"live_high_watermark"`
		} `json:"partition_info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	out := map[int32]int64{}
	for _, p := range d.PartitionInfo {
		out[p.Partition] = p.HighWatermark
		if p.LiveHighWatermark != nil {
			out[p.Partition] = max(p.HighWatermark, *p.LiveHighWatermark)
		}
	}
	return out
}

// firstRecords reads a page of 50 of the partition's records through the
// API, as the record browser does by default, and returns how many there
// are and the number in the first one's value.
func firstRecords(t *testing.T, cell *devCell, topic string, partition int) (int, int) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/topics/%s/partitions/%d/records?limit=50", cell.http, topic, partition))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []struct {
			Value string `json:"value"`
		} `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Records) == 0 {
		t.Fatalf("read records: %v (%d records)", err, len(page.Records))
	}
	var v struct{ N int }
	if err := json.Unmarshal([]byte(page.Records[0].Value), &v); err != nil {
		t.Fatalf("record value %q: %v", page.Records[0].Value, err)
	}
	return len(page.Records), v.N
}
