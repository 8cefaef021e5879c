// Package ops holds what operators deploy next to a cell: Grafana
// dashboards (grafana/*.json) and Prometheus alert rules
// (prometheus/alerts.yml). The package embeds them and reads out their
// queries, so that tests can hold every metric they name to the metric set
// the code registers (cmd/streamhouse's TestMetricsEndToEnd).
package ops
