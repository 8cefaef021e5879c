package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleAuthInBrowser drives the console of a dev cell with
// authentication on (--auth) in headless Chromium: the login page, a
// sign-up, the Billing page's meters and invoice, a plan change, an API key
// whose secret is shown once, works, and stops working once revoked, the
// audit log, members added, re-roled and removed, a second organization in
// another browser that never sees the first one's topics (nor the first
// the second's), token renewal ahead of expiry and after a 401, a logout
// back to the login page, a viewer's login (the console hides what a
// viewer may not do) and the owner's login again. Screenshots go where
// TestConsoleInBrowser's go, named auth-*.
func TestConsoleAuthInBrowser(t *testing.T) {
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

	cell := startDevWith(t, t.TempDir(), "--auth", "--meter-interval", "1s")
	a := newBrowser(t, shots)

	// Signed out: the login page, with the sign-up form beside it.
	a.do(chromedp.Navigate(cell.http + "/#/overview"))
	a.waitJS(`document.body.dataset.page === "login" && document.querySelector("#signup-form") !== null`, "the login page")
	a.shot("auth-login")

	// Sign up: the console opens as the new organization's owner.
	signUpInBrowser(a, "owner@acme.example", "acme")
	a.waitJS(`document.querySelector("#who-role")?.textContent === "owner" && document.querySelector("#who-org").textContent === "acme"`, "the owner's header")
	a.waitJS(`document.querySelector("#conn").textContent === "live" && Number(document.body.dataset.updated) > 0`, "the live feed")
	tokA := sessionToken(a)

	// A topic, created in the UI, and records through the API with the
	// session's token.
	a.do(chromedp.Navigate(cell.http + "/#/topics"))
	a.do(chromedp.SetValue(chromedp.CSS("#new-topic-name"), "acme-orders"),
		chromedp.SetValue(chromedp.CSS("#new-topic-partitions"), "2"), chromedp.Click(chromedp.CSS("#create-topic-btn")))
	a.waitJS(topicListed("acme-orders"), "the new topic in the list")
	if status, body := call(t, "POST", cell.http+"/api/v1/topics/acme-orders/records", tokA, `{"records":[{"value":"a"},{"value":"b"},{"value":"c"}]}`); status != http.StatusOK {
		t.Fatalf("produce with the session's token: %d %s", status, body)
	}

	// The Schemas page reaches the registry with the session's token too.
	a.do(chromedp.Navigate(cell.http + "/#/schemas"))
	a.waitJS(`document.querySelector("#subjects-table")?.textContent.includes("no data")`, "the (empty) subject list")

	// Billing: four meters, the invoice so far, the plans; the owner
	// switches to starter.
	a.do(chromedp.Navigate(cell.http + "/#/billing"))
	a.waitJS(`document.querySelectorAll("#billing-meters .meter").length === 4 && document.querySelector("[data-meter='topics'] .meter-value").textContent.startsWith("1 of")`, "the usage meters")
	// The records meter counts the 3 records once the meter books them
	// (every second here): Refresh, at most once a second, until it does.
	a.waitJS(`(() => {
		const ok = document.querySelector("[data-meter='records'] .meter-value").textContent.startsWith("3 of 10,000,000");
		if (!ok && !(window.lastRefresh > Date.now() - 1000)) {
			window.lastRefresh = Date.now();
			document.querySelector("#billing-refresh").click();
		}
		return ok;
	})()`, "the 3 records on the records meter")
	if w := evalString(a, `document.querySelector("[data-meter='partitions'] .meter-fill").style.width`); w != "50%" {
		t.Fatalf("the partitions meter's bar is %q wide, want 50%% (2 of 4)", w)
	}
	a.waitJS(`document.querySelectorAll("#invoice-table tbody tr td").length >= 4 && document.querySelector("#invoice-total")?.textContent.startsWith("$")`, "the invoice")
	a.waitJS(`document.querySelector("[data-plan='free'].current") !== null && document.querySelector("[data-choose-plan='starter']") !== null`, "the plans")
	a.shot("auth-billing")
	a.do(chromedp.Click(chromedp.CSS("[data-choose-plan='starter']")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	a.waitJS(`document.querySelector("[data-plan='starter'].current") !== null && document.querySelector("#billing-plan").textContent.startsWith("plan starter")`, "the plan changed")

	// An API key: its secret is shown once, and it works.
	a.do(chromedp.Navigate(cell.http + "/#/keys"))
	a.do(chromedp.SetValue(chromedp.CSS("#key-name"), "ingest"), chromedp.SetValue(chromedp.CSS("#key-role"), "member"),
		chromedp.Click(chromedp.CSS("#key-create")))
	a.waitJS(`document.querySelector("#key-secret")?.textContent.startsWith("shk_") && document.querySelector("#keys-table").textContent.includes("ingest")`, "the new key's secret")
	a.shot("auth-keys")
	secret := evalString(a, `document.querySelector("#key-secret").textContent`)
	if status, body := call(t, "GET", cell.http+"/api/v1/topics", secret, ""); status != http.StatusOK || !strings.Contains(string(body), "acme-orders") {
		t.Fatalf("the key's secret from the page: %d %s", status, body)
	}
	a.do(chromedp.Navigate(cell.http + "/#/overview"))
	a.do(chromedp.Navigate(cell.http + "/#/keys"))
	a.waitJS(`document.querySelector("#keys-table")?.textContent.includes("ingest") && document.querySelector("#key-secret") === null`, "the key listed, its secret gone")
	if strings.Contains(evalString(a, `document.body.innerText`), secret) {
		t.Fatal("the key's secret is shown again")
	}

	// Revoked from the page, the key stops working (within the
	// authenticator's cache of a few seconds).
	a.do(chromedp.Click(chromedp.CSS("[data-revoke]")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	a.waitJS(`document.querySelector("#keys-table").textContent.includes("revoked") && document.querySelector("[data-revoke]") === null`, "the key revoked")
	waitFor(t, 15*time.Second, "the revoked key refused", func() (bool, string) {
		status, body := call(t, "GET", cell.http+"/api/v1/topics", secret, "")
		return status == http.StatusUnauthorized, fmt.Sprintf("%d %s", status, body)
	})

	// The audit log lists the sign-up, the plan change and the key's life.
	a.do(chromedp.Navigate(cell.http + "/#/audit"))
	for _, action := range []string{"auth.signup", "org.plan", "key.create", "key.revoke", "topic.create"} {
		a.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#audit-table .audit-action")].some(e => e.textContent === %q)`, action), "audit action "+action)
	}
	a.shot("auth-audit")

	// Members: the owner adds a viewer, who gets a password here.
	a.do(chromedp.Navigate(cell.http + "/#/members"))
	a.waitJS(`document.querySelector("#members-table")?.textContent.includes("owner@acme.example (you)")`, "the members")
	a.do(chromedp.SetValue(chromedp.CSS("#member-email"), "viewer@acme.example"), chromedp.SetValue(chromedp.CSS("#member-role"), "viewer"),
		chromedp.SetValue(chromedp.CSS("#member-password"), browserPassword), chromedp.Click(chromedp.CSS("#member-add")))
	a.waitJS(`document.querySelector("[data-role-of]") !== null && [...document.querySelectorAll("#members-table tr")].some(r => r.textContent.includes("viewer@acme.example") && r.querySelector("select")?.value === "viewer")`, "the new viewer")
	a.shot("auth-members")
	// The owner changes a role and removes a member; the API agrees.
	setRole := func(email, role string) {
		t.Helper()
		evalString(a, fmt.Sprintf(`(() => {
			const row = [...document.querySelectorAll("#members-table tr")].find(r => r.textContent.includes(%q));
			const sel = row.querySelector("select");
			sel.value = %q;
			sel.dispatchEvent(new Event("change"));
			return "";
		})()`, email, role))
	}
	memberRole := func(email string) string {
		t.Helper()
		out := must(t, http.StatusOK, "GET", cell.http+"/api/v1/members", tokA, "")
		var ms struct {
			Members []struct{ Email, Role string } `json:"members"`
		}
		if err := json.Unmarshal(out, &ms); err != nil {
			t.Fatalf("members %s: %v", out, err)
		}
		for _, m := range ms.Members {
			if m.Email == email {
				return m.Role
			}
		}
		return ""
	}
	setRole("viewer@acme.example", "member")
	waitFor(t, 10*time.Second, "the viewer made a member", func() (bool, string) {
		r := memberRole("viewer@acme.example")
		return r == "member", r
	})
	setRole("viewer@acme.example", "viewer")
	waitFor(t, 10*time.Second, "the member made a viewer again", func() (bool, string) {
		r := memberRole("viewer@acme.example")
		return r == "viewer", r
	})
	a.do(chromedp.SetValue(chromedp.CSS("#member-email"), "temp@acme.example"), chromedp.SetValue(chromedp.CSS("#member-password"), browserPassword),
		chromedp.Click(chromedp.CSS("#member-add")))
	a.waitJS(`document.querySelector("#members-table").textContent.includes("temp@acme.example")`, "the temporary member")
	a.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#members-table tr")].find(r => r.textContent.includes("temp@acme.example")).querySelector("[data-remove]").click()`),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	a.waitJS(`!document.querySelector("#members-table").textContent.includes("temp@acme.example")`, "the temporary member removed")
	if r := memberRole("temp@acme.example"); r != "" {
		t.Fatalf("the removed member is still there as %s", r)
	}

	// A second organization in another browser: its console never shows
	// acme's topics, and acme's never shows its.
	b := newBrowser(t, shots)
	b.do(chromedp.Navigate(cell.http + "/"))
	b.waitJS(`document.body.dataset.page === "login"`, "the second browser's login page")
	signUpInBrowser(b, "ops@globex.example", "globex")
	b.do(chromedp.Navigate(cell.http + "/#/topics"))
	b.do(chromedp.SetValue(chromedp.CSS("#new-topic-name"), "globex-events"), chromedp.Click(chromedp.CSS("#create-topic-btn")))
	b.waitJS(topicListed("globex-events"), "globex's topic")
	a.do(chromedp.Navigate(cell.http + "/#/topics"))
	for _, br := range []*browser{a, b} {
		// Three more snapshots, each checked.
		for range 3 {
			seen := evalString(br, `document.body.dataset.updated`)
			br.waitJS(fmt.Sprintf(`document.body.dataset.updated !== %q`, seen), "a new snapshot")
			names := evalString(br, `[...document.querySelectorAll("#topics-table a.topic-link")].map(a => a.textContent).join(",")`)
			if want := map[*browser]string{a: "acme-orders", b: "globex-events"}[br]; names != want {
				t.Fatalf("a console shows topics %q, want only %q", names, want)
			}
		}
	}
	b.shot("auth-second-org")

	// Renewal: an access token about to expire is renewed ahead of time,
	// and one refused (401) is renewed once and the call retried; both
	// rotate the refresh token.
	for _, tc := range []struct{ what, tamper string }{
		{"near its expiry", `s.expires_at = Date.now() + 3000`},
		{"refused", `s.access_token = "not-a-token"`},
	} {
		before := evalString(b, `sessionStorage.getItem("streamhouse.console.session")`)
		evalString(b, `(() => { const s = JSON.parse(sessionStorage.getItem("streamhouse.console.session")); `+tc.tamper+
			`; sessionStorage.setItem("streamhouse.console.session", JSON.stringify(s)); return ""; })()`)
		b.do(chromedp.Reload())
		b.waitJS(fmt.Sprintf(`(() => {
			const s = JSON.parse(sessionStorage.getItem("streamhouse.console.session") ?? "null"), old = JSON.parse(%q);
			return s !== null && s.access_token !== old.access_token && s.access_token !== "not-a-token" && s.refresh_token !== old.refresh_token &&
				document.querySelector("#who-org")?.textContent === "globex" && document.querySelector("#conn").textContent === "live";
		})()`, before), "the session renewed when the access token was "+tc.what)
	}
	if status, _ := call(t, "GET", cell.http+"/api/v1/topics/acme-orders", sessionToken(b), ""); status != http.StatusNotFound {
		t.Fatalf("globex's token reads acme's topic: %d, want 404", status)
	}

	// Log out: the login page, the session forgotten, its token refused.
	a.do(chromedp.Click(chromedp.CSS("#logout")))
	a.waitJS(`document.body.dataset.page === "login" && document.querySelector("#login-form") !== null && sessionStorage.length === 0`, "the login page after the logout")
	a.shot("auth-logged-out")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status, _ := call(t, "GET", cell.http+"/api/v1/topics", tokA, "")
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logged-out access token still answers %d", status)
		}
	}

	// The viewer signs in, naming the organization: the console hides
	// what a viewer may not do.
	a.do(chromedp.SetValue(chromedp.CSS("#login-email"), "viewer@acme.example"), chromedp.SetValue(chromedp.CSS("#login-password"), browserPassword),
		chromedp.SetValue(chromedp.CSS("#login-org"), "acme"), chromedp.Click(chromedp.CSS("#login-btn")))
	a.waitJS(`document.querySelector("#who-role")?.textContent === "viewer"`, "the viewer's console")
	a.do(chromedp.Navigate(cell.http + "/#/topics"))
	a.waitJS(topicListed("acme-orders")+` && document.querySelector("#create-topic") === null && document.querySelector("[data-delete]") === null`, "the topics without create or delete")
	if nav := evalString(a, `[...document.querySelectorAll("#nav a")].map(a => a.dataset.page).join(",")`); strings.Contains(nav, "keys") || strings.Contains(nav, "audit") || !strings.Contains(nav, "billing") {
		t.Fatalf("a viewer's menu: %s", nav)
	}
	a.do(chromedp.Navigate(cell.http + "/#/billing"))
	a.waitJS(`document.querySelectorAll("#billing-meters .meter").length === 4 && document.querySelector("[data-plan='starter'].current") !== null && document.querySelector("[data-choose-plan]") === null && document.querySelector("#invoice").textContent.includes("owners")`, "the viewer's billing page")
	a.shot("auth-viewer-billing")
	a.do(chromedp.Click(chromedp.CSS("#logout")))
	a.waitJS(`document.body.dataset.page === "login"`, "the login page after the viewer's logout")

	// The owner logs in again, without naming the organization: the user's first.
	a.do(chromedp.SetValue(chromedp.CSS("#login-email"), "owner@acme.example"), chromedp.SetValue(chromedp.CSS("#login-password"), browserPassword),
		chromedp.Click(chromedp.CSS("#login-btn")))
	a.waitJS(`document.querySelector("#who-org")?.textContent === "acme" && document.querySelector("#conn").textContent === "live"`, "the console after logging in")
	a.do(chromedp.Navigate(cell.http + "/#/topics"))
	a.waitJS(topicListed("acme-orders")+` && document.querySelector("#create-topic") !== null`, "acme's topic after logging in")

	// The audit log a page at a time: 10, then the older ones (before=),
	// down to the sign-up: as many as the API has.
	a.do(chromedp.Navigate(cell.http + "/#/audit"))
	a.waitJS(`document.querySelectorAll("#audit-table .audit-action").length > 10`, "the audit log")
	a.do(chromedp.SetValue(chromedp.CSS("#audit-size"), "10"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#audit-size").dispatchEvent(new Event("change"))`))
	a.waitJS(`document.querySelectorAll("#audit-table .audit-action").length === 10 && !document.querySelector("#audit-more").hidden`, "the first page of 10")
	total := must(t, http.StatusOK, "GET", cell.http+"/api/v1/audit?limit=100", sessionToken(a), "")
	var all struct {
		Events []struct{ ID int64 } `json:"events"`
	}
	if err := json.Unmarshal(total, &all); err != nil || len(all.Events) <= 10 || len(all.Events) > 30 {
		t.Fatalf("audit events: %v (%d)", err, len(all.Events))
	}
	for pages := 1; evalString(a, `String(document.querySelector("#audit-more").hidden)`) == "false"; pages++ {
		if pages > 3 {
			t.Fatalf("more than 3 pages of 10 for %d events", len(all.Events))
		}
		shown := evalString(a, `String(document.querySelectorAll("#audit-table .audit-action").length)`)
		a.do(chromedp.Click(chromedp.CSS("#audit-more")))
		a.waitJS(fmt.Sprintf(`String(document.querySelectorAll("#audit-table .audit-action").length) !== %q`, shown), "an older page")
	}
	a.waitJS(fmt.Sprintf(`document.querySelectorAll("#audit-table .audit-action").length === %d && [...document.querySelectorAll("#audit-table .audit-action")].at(-1).textContent === "auth.signup"`, len(all.Events)),
		"every event, the sign-up last")
}

// browserPassword is every browser-made user's password.
const browserPassword = "correct-horse-battery-staple"

// signUpInBrowser fills the sign-up form and waits for the console.
func signUpInBrowser(b *browser, email, org string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS("#signup-email"), email), chromedp.SetValue(chromedp.CSS("#signup-password"), browserPassword),
		chromedp.SetValue(chromedp.CSS("#signup-org"), org), chromedp.Click(chromedp.CSS("#signup-btn")))
	b.waitJS(`document.querySelector("#logout") !== null`, "the console after signing up as "+email)
}

func topicListed(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#topics-table a.topic-link")].some(a => a.textContent === %q)`, name)
}

// sessionToken is the access token the page keeps in sessionStorage.
func sessionToken(b *browser) string {
	b.t.Helper()
	tok := evalString(b, `JSON.parse(sessionStorage.getItem("streamhouse.console.session")).access_token`)
	if tok == "" {
		b.t.Fatal("no access token in sessionStorage")
	}
	return tok
}

func evalString(b *browser, expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
