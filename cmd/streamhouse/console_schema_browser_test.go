package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestConsoleSchemasInBrowser drives the Schemas page in headless Chromium
// against a dev cell, through the console's own /schema-api/: open a new
// subject and register its first Avro schema, see an incompatible second
// version refused by the check with its reasons (and by Register), register
// a compatible one, compare both side by side, find the subject in the list
// with its level, and fit a narrow screen. Screenshots go where
// TestConsoleInBrowser's go.
func TestConsoleSchemasInBrowser(t *testing.T) {
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
	cell := startDev(t, t.TempDir())
	b := newBrowser(t, shots)
	var (
		exMu       sync.Mutex
		exceptions []string
	)
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			exMu.Lock()
			exceptions = append(exceptions, e.ExceptionDetails.Text)
			exMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	b.do(chromedp.Navigate(cell.http + "/#/schemas"))
	b.waitJS(`document.querySelector("#subjects-table")?.textContent.includes("no data")`, "the empty subject list")
	b.do(chromedp.SetValue(chromedp.CSS("#new-subject-name"), "orders-value"), chromedp.Click(chromedp.CSS("#open-subject-btn")))
	b.waitJS(`document.querySelector("#subject-name")?.textContent === "orders-value" && document.querySelector("#versions").textContent.includes("no versions yet")`, "the new subject's page")

	const (
		v1           = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`
		incompatible = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}`
		v2           = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double","default":0}]}`
	)
	setSchema := func(s string) { b.do(chromedp.SetValue(chromedp.CSS("#schema-text"), s)) }

	// The first version: compatible with nothing, registered as version 1.
	setSchema(v1)
	b.do(chromedp.Click(chromedp.CSS("#schema-check")))
	b.waitJS(`document.querySelector("#check-ok")?.textContent.includes("no earlier version")`, "the first version's check")
	b.do(chromedp.Click(chromedp.CSS("#schema-register")))
	b.waitJS(`document.querySelector("#register-ok")?.textContent.includes("version 1")`, "version 1 registered")

	// A new field without a default cannot read the old records (BACKWARD).
	setSchema(incompatible)
	b.do(chromedp.Click(chromedp.CSS("#schema-check")))
	b.waitJS(`document.querySelectorAll("#check-refused li").length > 0`, "the refusal's reasons")
	reasons, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#check-refused").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the page shows: %s", reasons)
	b.shot("schemas-refused")
	b.do(chromedp.Click(chromedp.CSS("#schema-register")))
	b.waitJS(`document.querySelector("#register-error")?.textContent.includes("409")`, "Register refusing it too")

	// With a default it can: version 2.
	setSchema(v2)
	b.do(chromedp.Click(chromedp.CSS("#schema-check")))
	b.waitJS(`document.querySelector("#check-ok") !== null`, "the compatible version's check")
	b.do(chromedp.Click(chromedp.CSS("#schema-register")))
	b.waitJS(`document.querySelector("#register-ok")?.textContent.includes("version 2")`, "version 2 registered")

	// Both side by side: v1 on the left, v2 on the right, the new field added.
	b.waitJS(`document.querySelector("#diff-summary")?.textContent.startsWith("v1 → v2")`, "the comparison of v1 and v2")
	b.waitJS(`[...document.querySelectorAll("#diff-table tr.d-add td.code, #diff-table tr.d-change td.code")].some(td => td.textContent.includes('"amount"'))`+
		` && ![...document.querySelectorAll("#diff-table tr.d-same td.code")].some(td => td.textContent.includes("amount"))`+
		` && [...document.querySelectorAll("#diff-table tr.d-same td.code")].some(td => td.textContent.includes('"id"'))`, "the added field in the diff")
	b.shot("schemas-subject")

	// A schema over the console's body limit is refused before it is sent.
	b.do(chromedp.Evaluate[chromedp.Void](`void (document.querySelector("#schema-text").value = "x".repeat(250001))`))
	b.do(chromedp.Click(chromedp.CSS("#schema-check")))
	b.waitJS(`document.querySelector("#schema-result").textContent.includes("over the console's limit of 250000")`, "the schema's length refused")

	// The same through the API the page used, for the default tenant.
	resp, err := http.Get(cell.http + "/schema-api/subjects/orders-value/versions")
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	err = json.NewDecoder(resp.Body).Decode(&versions)
	resp.Body.Close()
	if err != nil || fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("versions after the UI's registrations: %v (%v)", versions, err)
	}

	b.do(chromedp.Navigate(cell.http + "/#/schemas"))
	b.waitJS(`[...document.querySelectorAll("#subjects-table tbody tr")].some(tr => tr.innerText.includes("orders-value") && tr.children[1].textContent === "2" && tr.innerText.includes("BACKWARD (default)"))`,
		"the subject in the list with its latest version and level")
	b.shot("schemas")

	// The list shows the first 200 subjects and says how many there are.
	var wg sync.WaitGroup
	errs := make(chan error, 201)
	for i := range 201 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"schema": "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[]}"}`, i)
			resp, err := http.Post(fmt.Sprintf("%s/schema-api/subjects/s-%03d/versions", cell.http, i), "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("register s-%03d: status %d", i, resp.StatusCode)
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.do(chromedp.Click(chromedp.CSS("#subjects-refresh"))) // the page is open: read again
	b.waitJS(`document.querySelectorAll("#subjects-table tbody tr").length === 200 && document.querySelector("#subject-list").textContent.includes("the first 200 of 202 subjects")`, "the list's limit")

	// A narrow screen: the page fits without scrolling sideways.
	b.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(cell.http+"/#/schemas/orders-value"))
	b.waitJS(`document.querySelector("#diff-summary") !== null`, "the subject page on a narrow screen")
	width := b.evalFloat(`document.documentElement.scrollWidth`)
	if width > 390 {
		b.shot("failure")
		t.Errorf("on a 390 px screen the page is %s px wide", strconv.FormatFloat(width, 'f', 0, 64))
	}
	b.shot("schemas-narrow")

	exMu.Lock()
	defer exMu.Unlock()
	if len(exceptions) > 0 {
		t.Errorf("the page threw: %q", exceptions)
	}
}
