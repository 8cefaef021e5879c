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
	Status clusterStatusCmd `cmd:"" help:"Ask /health and /ready and show each component, then the agents and the partitions they own."`
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

// agent is one agent as GET /api/v1/agents shows it.
type agent struct {
	ID         string      `json:"id"`
	Live       bool        `json:"live"`
	Partitions []groupPart `json:"partitions"`
}

// agentsResult is the answer of GET /api/v1/agents: the agents, or why
// there are none to show (a router that does not see the cluster: 503).
type agentsResult struct {
	agents []agent
	err    string
}

func fetchAgents(a *app) (agentsResult, error) {
	resp, err := a.client.do(a.ctx, http.MethodGet, "/api/v1/agents", nil, "", nil)
	if err != nil {
		return agentsResult{}, err
	}
	if resp.status != http.StatusOK {
		if resp.status == http.StatusNotFound {
			return agentsResult{err: "not served by this server"}, nil
		}
		return agentsResult{err: resp.apiError().Message}, nil
	}
	var list struct {
		Agents []agent `json:"agents"`
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		return agentsResult{err: fmt.Sprintf("the server's answer: %v", err)}, nil
	}
	if list.Agents == nil {
		list.Agents = []agent{}
	}
	return agentsResult{agents: list.Agents}, nil
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
	agents, err := fetchAgents(a)
	if err != nil {
		return err
	}
	if a.json {
		if err := writeJSON(a.env.stdout, struct {
			Server      string        `json:"server"`
			Checks      []checkResult `json:"checks"`
			Agents      []agent       `json:"agents,omitempty"`
			AgentsError string        `json:"agents_error,omitempty"`
		}{a.client.base.Redacted(), results, agents.agents, agents.err}); err != nil {
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
		w := a.env.stdout
		fmt.Fprintln(w)
		switch {
		case agents.err != "":
			fmt.Fprintf(w, "agents: not available (%s)\n", agents.err)
		case len(agents.agents) == 0:
			fmt.Fprintln(w, "agents: none")
		default:
			at := newTable(w)
			at.AppendHeader(table.Row{"ID", "Live", "Partitions"})
			for _, ag := range agents.agents {
				live := "no"
				if ag.Live {
					live = "yes"
				}
				at.AppendRow(table.Row{ag.ID, live, formatParts(ag.Partitions)})
			}
			at.Render()
		}
	}
	for _, r := range results {
		if !r.OK {
			return &apiError{Status: r.Status, Code: "unhealthy",
				Message: fmt.Sprintf("%s is not ok", r.Endpoint)}
		}
	}
	return nil
}
