package ops

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

func TestDashboards(t *testing.T) {
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"overview", "producers", "consumers", "storage", "agents"} {
		if _, ok := ds["grafana/"+want+".json"]; !ok {
			t.Errorf("grafana/%s.json is missing", want)
		}
	}
	uids := map[string]string{}
	for file, d := range ds {
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, title %q, %d panels: want all set", file, d.UID, d.Title, len(d.Panels))
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %q", file, other, d.UID)
		}
		uids[d.UID] = file
		for _, p := range d.Panels {
			if p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no title or no query", file, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.RefID == "" {
					t.Errorf("%s: panel %q: a query without refId", file, p.Title)
				}
			}
		}
	}
}

func TestAlertRules(t *testing.T) {
	files, err := RuleFiles()
	if err != nil {
		t.Fatal(err)
	}
	rf, ok := files["prometheus/alerts.yml"]
	if !ok {
		t.Fatal("prometheus/alerts.yml is missing")
	}
	alerts := map[string]Rule{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert name (expr %q)", g.Name, r.Expr)
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			alerts[r.Alert] = r
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s: no summary annotation", r.Alert)
			}
			for k, v := range r.Annotations {
				if strings.Count(v, "{{") != strings.Count(v, "}}") {
					t.Errorf("alert %s: annotation %s has unbalanced {{ }}", r.Alert, k)
				}
			}
		}
	}
	// The alerts issue 4 asks for.
	for _, want := range []string{"StreamHouseAgentDown", "StreamHouseConsumerLagHigh", "StreamHouseOrphanedPartitions",
		"StreamHouseObjectStoreErrors", "StreamHouseWALBacklog"} {
		if _, ok := alerts[want]; !ok {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// TestQueriesWellFormed checks what can be checked of PromQL without
// Prometheus's parser (whose module would pull in much of Prometheus):
// brackets and quotes balance, and each query names a metric.
func TestQueriesWellFormed(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 40 {
		t.Fatalf("%d queries; the dashboards and rules hold more", len(qs))
	}
	for _, q := range qs {
		if err := balanced(q.Expr); err != nil {
			t.Errorf("%s %q: %v in %s", q.File, q.Where, err, q.Expr)
		}
		if len(MetricNames(q.Expr)) == 0 && !strings.Contains(q.Expr, "up{") && !strings.Contains(q.Expr, "process_") && !strings.Contains(q.Expr, "go_") {
			t.Errorf("%s %q: names no metric: %s", q.File, q.Where, q.Expr)
		}
	}
}

func TestBalanced(t *testing.T) {
	for expr, ok := range map[string]bool{
		`sum(rate(x{a="b"}[5m]))`: true,
		`sum(rate(x{a="b"}[5m])`:  false,
		`x{a="}"}`:                true,
		`x{a="b}`:                 false,
		`x)(`:                     false,
	} {
		if err := balanced(expr); (err == nil) != ok {
			t.Errorf("balanced(%q) = %v, want ok=%v", expr, err, ok)
		}
	}
}
