package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/jedib0t/go-pretty/v6/table"
)

type clusterCmd struct {
	Status clusterStatusCmd `cmd:"" help:"Ask /health and /ready and show each component."`
}

type clusterStatusCmd struct{}

// checkResult is one health endpoint's answer. The server reports a JSON
// object of component → "ok" or the component's error, with 200 when all
// are ok and 503 when not.
type checkResult struct {
	Endpoint   string            `json:"endpoint"`
	Status     int               `json:"status"`
	OK         bool              `json:"ok"`
	Components map[string]string `json:"components,omitempty"`
	Error      string            `json:"error,omitempty"` // an answer without a report
}

func (c *clusterStatusCmd) Run(a *app) error {
	var results []checkResult
	for _, ep := range []string{"/health", "/ready"} {
		resp, err := a.client.do(a.ctx, http.MethodGet, ep, nil, "", nil)
		if err != nil {
			return err
		}
		r := checkResult{Endpoint: ep, Status: resp.status, OK: resp.status == http.StatusOK}
		if err := json.Unmarshal(resp.body, &r.Components); err != nil || r.Components == nil {
			r.Components = nil
			r.Error = resp.apiError().Message
			if resp.status == http.StatusNotFound {
				r.Error = "not served by this server"
			}
			r.OK = false
		}
		results = append(results, r)
	}
	if a.json {
		if err := writeJSON(a.env.stdout, struct {
			Server string        `json:"server"`
			Checks []checkResult `json:"checks"`
		}{a.client.base.Redacted(), results}); err != nil {
			return err
		}
	} else {
		t := newTable(a.env.stdout)
		t.AppendHeader(table.Row{"Endpoint", "HTTP", "Component", "Status"})
		for _, r := range results {
			if r.Error != "" {
				t.AppendRow(table.Row{r.Endpoint, strconv.Itoa(r.Status), "-", r.Error})
			}
			names := make([]string, 0, len(r.Components))
			for name := range r.Components {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				t.AppendRow(table.Row{r.Endpoint, strconv.Itoa(r.Status), name, r.Components[name]})
			}
		}
		t.Render()
	}
	for _, r := range results {
		if !r.OK {
			return &apiError{Status: r.Status, Code: "unhealthy",
				Message: fmt.Sprintf("%s is not ok", r.Endpoint)}
		}
	}
	return nil
}
