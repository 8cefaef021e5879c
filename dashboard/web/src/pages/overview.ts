import { LineChart } from "../chart";
import { card, fill, fmtBytes, fmtInt, fmtRate, h, noData, table } from "../dom";
import { lagClass } from "../settings";
import type { Ctx, Page } from "./page";

export function overview(ctx: Ctx): Page {
  const cards = h("div", { class: "cards" });
  const chart = new LineChart("Throughput (records/s)", fmtRate, "overview-throughput");
  const alerts = h("div", { id: "lag-alerts" });
  const health = h("div", { id: "health" });
  const el = h("section", {}, h("h1", {}, "Overview"), cards,
    h("div", { class: "panel" }, chart.el),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "Lag alerts"), alerts),
      h("div", { class: "panel" }, h("h2", {}, "Health"), health)));
  return {
    el,
    update() {
      const s = ctx.live.snap;
      if (!s) return;
      const parts = s.topics.reduce((n, t) => n + t.partitions, 0);
      const records = s.topics.reduce((n, t) => n + t.records, 0);
      const bytes = s.topics.reduce((n, t) => n + t.size_bytes, 0);
      const rate = s.topics.reduce((n, t) => n + t.records_per_sec, 0);
      fill(cards,
        card("Topics", fmtInt(s.topics.length), "card-topics"),
        card("Partitions", fmtInt(parts)),
        card("Agents", `${s.agents.filter((a) => a.live).length} / ${s.agents.length}`),
        card("Records", fmtInt(records), "card-records"),
        card("Stored", fmtBytes(bytes)),
        card("Throughput", fmtRate(rate), "card-throughput"));
      chart.update(ctx.live.throughput, (k) => k === "total" || s.topics.length <= 8);
      const lagging = s.groups.filter((g) => g.lag >= ctx.settings.lagWarn);
      fill(alerts, lagging.length === 0 ? noData("no group over the lag threshold") :
        table(["Group", "Lag"], lagging.map((g) => [h("a", { href: "#/groups/" + encodeURIComponent(g.group) }, g.group), h("span", { class: lagClass(ctx.settings, g.lag) }, fmtInt(g.lag))])));
      const rows = Object.entries(s.health).sort().map(([k, v]) => [k, h("span", { class: v === "ok" ? "ok" : "bad" }, v)]);
      for (const [k, v] of Object.entries(s.errors ?? {})) rows.push(["console: " + k, h("span", { class: "bad" }, v)]);
      fill(health, table(["Component", "State"], rows));
    },
    destroy: () => chart.destroy(),
  };
}
