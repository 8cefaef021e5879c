package ops

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed grafana/*.json prometheus/*.yml
var files embed.FS

// Query is one PromQL expression of a dashboard panel or an alert rule.
type Query struct {
	File  string // e.g. "grafana/overview.json"
	Where string // the panel's title or the alert's name
	Expr  string
}

// Dashboard is the part of a Grafana dashboard's JSON model the tests
// read.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is a dashboard panel; rows nest their panels.
type Panel struct {
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Targets []Target `json:"targets"`
	Panels  []Panel  `json:"panels"`
}

// Target is a panel's query.
type Target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is a named group of rules.
type RuleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is an alerting rule (recording rules have Record instead of Alert).
type Rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Dashboards parses every grafana/*.json, by file name.
func Dashboards() (map[string]Dashboard, error) {
	names, err := fs.Glob(files, "grafana/*.json")
	if err != nil {
		return nil, err
	}
	out := make(map[string]Dashboard, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = d
	}
	return out, nil
}

// RuleFiles parses every prometheus/*.yml strictly (an unknown field is an
// error, as Prometheus's loader makes it), by file name.
func RuleFiles() (map[string]RuleFile, error) {
	names, err := fs.Glob(files, "prometheus/*.yml")
	if err != nil {
		return nil, err
	}
	out := make(map[string]RuleFile, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		var rf RuleFile
		if err := dec.Decode(&rf); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = rf
	}
	return out, nil
}

// Queries returns every expression of the dashboards and the rule files.
func Queries() ([]Query, error) {
	dashboards, err := Dashboards()
	if err != nil {
		return nil, err
	}
	var out []Query
	var walk func(file string, ps []Panel)
	walk = func(file string, ps []Panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{File: file, Where: p.Title, Expr: t.Expr})
			}
			walk(file, p.Panels)
		}
	}
	for file, d := range dashboards {
		walk(file, d.Panels)
	}
	rules, err := RuleFiles()
	if err != nil {
		return nil, err
	}
	for file, rf := range rules {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out = append(out, Query{File: file, Where: r.Alert + r.Record, Expr: r.Expr})
			}
		}
	}
	slices.SortFunc(out, func(a, b Query) int { return strings.Compare(a.File+a.Where+a.Expr, b.File+b.Where+b.Expr) })
	return out, nil
}

// metricRE finds StreamHouse's metric names in an expression; every name
// the project defines starts with the prefix.
var metricRE = regexp.MustCompile(`\bstreamhouse_[a-zA-Z0-9_]+`)

// histogramSuffixes are the series a histogram family exposes.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// MetricNames returns the StreamHouse metric names expr uses: a histogram's
// _bucket, _sum and _count series as given, and its family name (without
// the suffix) as Family.
func MetricNames(expr string) []string {
	names := metricRE.FindAllString(expr, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// Family returns the family name of a series name: a histogram series'
// name without its suffix if isHistogram says the trimmed name is a
// histogram, else the name itself.
func Family(name string, isHistogram func(string) bool) string {
	for _, s := range histogramSuffixes {
		if base, ok := strings.CutSuffix(name, s); ok && isHistogram(base) {
			return base
		}
	}
	return name
}
