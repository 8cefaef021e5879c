import { LineChart } from "../chart";
import { fill, fmtBytes, fmtInt, fmtRate, fmtSeconds, h, noData, table } from "../dom";
import { counterRates } from "../live";
import { metricSamples, type Ctx, type Page } from "./page";

export function producers(ctx: Ctx): Page {
  const chart = new LineChart("Produced (records/s, from metrics)", fmtRate, "producers-chart");
  const byTopic = h("div", { id: "producers-topics" });
  const latency = h("div", { id: "producers-latency" });
  const errors = h("div", { id: "producers-errors" });
  const el = h("section", {}, h("h1", {}, "Producers"),
    h("div", { class: "panel" }, chart.el),
    h("div", { class: "panel" }, h("h2", {}, "Throughput by topic"), byTopic),
    h("div", { class: "panel" }, h("h2", {}, "Request latency"), latency),
    h("div", { class: "panel" }, h("h2", {}, "Errors"), errors));
  return {
    el,
    update() {
      const s = ctx.live.snap;
      if (!s) return;
      chart.update(ctx.live.produceRate);
      const recs = metricSamples(ctx, "streamhouse_produce_records_total");
      const bytes = new Map((metricSamples(ctx, "streamhouse_produce_bytes_total") ?? []).map((m) => [m.labels?.topic ?? "", m.value]));
      const rates = counterRates(ctx.live.prev, s, "streamhouse_produce_records_total", (l) => l.topic ?? "");
      const byteRates = counterRates(ctx.live.prev, s, "streamhouse_produce_bytes_total", (l) => l.topic ?? "");
      fill(byTopic, recs === null ? noData() : table(["Topic", "Records", "Bytes", "Records/s", "Bytes/s"], recs.map((m) => {
        const t = m.labels?.topic ?? "";
        return [t, fmtInt(m.value), fmtBytes(bytes.get(t) ?? 0), fmtRate(rates.get(t) ?? 0), fmtBytes(byteRates.get(t) ?? 0) + "/s"];
      })));
      const lat = metricSamples(ctx, "streamhouse_router_request_duration_seconds");
      fill(latency, lat === null ? noData() : table(["API", "Route", "Code", "Requests", "p50", "p95", "p99"],
        lat.filter((m) => (m.count ?? 0) > 0).map((m) => [m.labels?.api ?? "", m.labels?.route ?? "", m.labels?.code ?? "", fmtInt(m.count ?? 0), fmtSeconds(m.p50), fmtSeconds(m.p95), fmtSeconds(m.p99)])));
      const errs = metricSamples(ctx, "streamhouse_router_errors_total");
      fill(errors, errs === null ? noData() : table(["API", "Kind", "Errors"], errs.map((m) => [m.labels?.api ?? "", m.labels?.kind ?? "", fmtInt(m.value)])));
    },
    destroy: () => chart.destroy(),
  };
}
