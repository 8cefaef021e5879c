import { card, fill, fmtBytes, fmtInt, fmtSeconds, h, noData, table } from "../dom";
import { metricSamples, type Ctx, type Page } from "./page";

export function storage(ctx: Ctx): Page {
  const cache = h("div", { class: "cards", id: "storage-cache" });
  const ops = h("div", { id: "storage-ops" });
  const lat = h("div", { id: "storage-latency" });
  const segs = h("div", { id: "storage-segments" });
  const el = h("section", {}, h("h1", {}, "Storage"),
    h("div", { class: "panel" }, h("h2", {}, "Segment cache"), cache),
    h("div", { class: "panel" }, h("h2", {}, "Object-store operations"), ops),
    h("div", { class: "panel" }, h("h2", {}, "Object-store latency"), lat),
    h("div", { class: "panel" }, h("h2", {}, "Segments by topic"), segs));
  const one = (name: string) => {
    const s = metricSamples(ctx, name);
    return s === null ? null : s.reduce((n, m) => n + m.value, 0);
  };
  return {
    el,
    update() {
      const s = ctx.live.snap;
      if (!s) return;
      const hits = one("streamhouse_partition_cache_hits_total"), misses = one("streamhouse_partition_cache_misses_total");
      const bytes = one("streamhouse_partition_cache_bytes");
      fill(cache, hits === null && misses === null && bytes === null ? noData() : [
        card("Hit rate", hits !== null && misses !== null && hits + misses > 0 ? ((100 * hits) / (hits + misses)).toFixed(1) + " %" : "–"),
        card("Hits", hits === null ? "–" : fmtInt(hits)), card("Misses", misses === null ? "–" : fmtInt(misses)),
        card("Cached", bytes === null ? "–" : fmtBytes(bytes))]);
      const o = metricSamples(ctx, "streamhouse_objectstore_operations_total");
      // One row per operation: successes, and each failing result only when it happened.
      const byOp = new Map<string, { ok: number; failed: Map<string, number> }>();
      for (const m of o ?? []) {
        const op = m.labels?.op ?? "", result = m.labels?.result ?? "";
        const row = byOp.get(op) ?? { ok: 0, failed: new Map<string, number>() };
        byOp.set(op, row);
        if (result === "ok") row.ok += m.value;
        else if (m.value > 0) row.failed.set(result, m.value);
      }
      fill(ops, o === null ? noData() : table(["Operation", "OK", "Failed"], [...byOp].sort().map(([op, r]) => [op, fmtInt(r.ok),
        r.failed.size === 0 ? "0" : h("span", { class: "bad" }, [...r.failed].map(([k, v]) => `${k}: ${fmtInt(v)}`).join(", "))]), "storage-ops-table"));
      const l = metricSamples(ctx, "streamhouse_objectstore_operation_duration_seconds");
      fill(lat, l === null ? noData() : table(["Operation", "Count", "p50", "p95", "p99"], l.map((m) => [m.labels?.op ?? "", fmtInt(m.count ?? 0), fmtSeconds(m.p50), fmtSeconds(m.p95), fmtSeconds(m.p99)])));
      fill(segs, table(["Topic", "Segments", "Committed bytes"], s.topics.map((t) => [t.name,
        fmtInt(t.partition_info.reduce((n, p) => n + (p.segments ?? 0), 0)), fmtBytes(t.size_bytes)])));
    },
  };
}
