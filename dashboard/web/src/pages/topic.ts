import { APIError, readRecords, type RecordJSON } from "../api";
import { fill, fmtBytes, fmtInt, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";

// topicPage shows one topic: partitions, their distribution, and a record
// browser reading GET .../partitions/{p}/records.
export function topicPage(ctx: Ctx, name: string): Page {
  const summary = h("div", { class: "cards" });
  const dist = h("div", { class: "dist", id: "partition-dist" });
  const parts = h("div", { id: "partitions" });

  const partSel = h("select", { id: "rb-partition" });
  const mode = h("select", { id: "rb-mode" }, h("option", { value: "offset" }, "from offset"), h("option", { value: "timestamp" }, "from time"));
  const from = h("input", { id: "rb-from", placeholder: "earliest | latest | N", value: "earliest" });
  const limit = h("input", { id: "rb-limit", type: "number", min: 1, max: 500, value: 50 });
  const format = h("select", { id: "rb-format" }, h("option", { value: "json" }, "JSON"), h("option", { value: "text" }, "text"), h("option", { value: "hex" }, "hex"));
  const out = h("div", { id: "records" });
  const err = h("p", { class: "form-error", id: "rb-error" });
  let next: number | null = null;
  let shown: RecordJSON[] = [];
  let shownHW = 0;

  mode.addEventListener("change", () => {
    from.value = mode.value === "timestamp" ? new Date(Date.now() - 3600e3).toISOString() : "earliest";
  });
  const load = async (startAt?: string) => {
    err.textContent = "";
    const lim = Number(limit.value);
    if (!(Number.isInteger(lim) && lim >= 1 && lim <= 500)) return void (err.textContent = "limit: 1 to 500");
    const q: { offset?: string; timestamp?: number; limit: number } = { limit: lim };
    if (startAt !== undefined) q.offset = startAt;
    else if (mode.value === "timestamp") {
      const ts = Date.parse(from.value);
      if (Number.isNaN(ts)) return void (err.textContent = "time: an ISO date such as 2026-01-02T15:04:05Z");
      q.timestamp = ts;
    } else {
      const v = from.value.trim();
      if (!/^(earliest|latest|\d+)$/.test(v)) return void (err.textContent = "offset: earliest, latest or a number");
      q.offset = v;
    }
    try {
      const page = await readRecords(name, Number(partSel.value), q);
      next = page.next_offset;
      shown = page.records;
      shownHW = page.high_watermark;
      renderRecords();
    } catch (x) {
      err.textContent = x instanceof APIError ? `${x.code}: ${x.message}` : String(x);
    }
  };
  const renderRecords = () => {
    fill(out, h("p", { class: "muted" }, `${shown.length} records; high watermark ${fmtInt(shownHW)}; next offset ${next}`),
      table(["Offset", "Time", "Key", "Value", "Headers"], shown.map((r) => [
        String(r.offset), new Date(r.timestamp_ms).toISOString(),
        h("code", {}, show(r.key, r.key_b64, format.value)),
        h("pre", { class: "value" }, show(r.value, r.value_b64, format.value)),
        h("code", { class: "small" }, JSON.stringify(r.headers ?? r.headers_b64 ?? {})),
      ]), "records-table"));
  };
  format.addEventListener("change", () => renderRecords());

  const el = h("section", {},
    h("p", {}, h("a", { href: "#/topics" }, "← Topics")),
    h("h1", {}, "Topic ", h("span", { id: "topic-name" }, name)), summary,
    h("div", { class: "panel" }, h("h2", {}, "Partition distribution (records)"), dist),
    h("div", { class: "panel" }, h("h2", {}, "Partitions"), parts),
    h("div", { class: "panel" }, h("h2", {}, "Records"),
      h("form", { class: "form inline", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
        h("label", {}, "partition ", partSel), mode, from, h("label", {}, "limit ", limit), h("label", {}, "as ", format),
        h("button", { type: "submit", id: "rb-load" }, "Load"),
        h("button", { type: "button", id: "rb-next", onclick: () => next !== null && void load(String(next)) }, "Next page")),
      err, out));

  let partsKnown = -1;
  return {
    el,
    update() {
      const t = ctx.live.snap?.topics.find((x) => x.name === name);
      if (!t) {
        fill(summary, noData(ctx.live.snap ? "this topic does not exist (any more)" : "waiting for data"));
        return;
      }
      if (partsKnown !== t.partitions) {
        partsKnown = t.partitions;
        const keep = partSel.value;
        fill(partSel, Array.from({ length: t.partitions }, (_, i) => h("option", { value: i }, String(i))));
        if (keep) partSel.value = keep;
      }
      fill(summary,
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Partitions"), h("div", { class: "card-value" }, fmtInt(t.partitions))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Records"), h("div", { class: "card-value", id: "topic-records" }, fmtInt(t.records))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Size"), h("div", { class: "card-value" }, fmtBytes(t.size_bytes))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Durability / cleanup"), h("div", { class: "card-value small" }, `${t.durability} / ${t.cleanup_policy}`)),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Retention"), h("div", { class: "card-value small" }, t.retention_ms < 0 ? "forever" : `${(t.retention_ms / 3600e3).toFixed(1)} h`)));
      const hw = (p: { high_watermark: number; live_high_watermark?: number }) => Math.max(p.high_watermark, p.live_high_watermark ?? 0);
      const most = Math.max(1, ...t.partition_info.map((p) => hw(p) - p.log_start_offset));
      fill(dist, t.partition_info.map((p) => h("div", { class: "bar-row" }, h("span", { class: "bar-label" }, String(p.partition)),
        h("span", { class: "bar", style: `width:${(100 * (hw(p) - p.log_start_offset)) / most}%` }), h("span", { class: "small" }, fmtInt(hw(p) - p.log_start_offset)))));
      fill(parts, table(["Partition", "Owner", "High watermark", "Log start", "Size", "Segments", "Epoch"], t.partition_info.map((p) => [
        String(p.partition), p.owner ?? "–", fmtInt(hw(p)), fmtInt(p.log_start_offset),
        p.size_bytes === undefined ? "–" : fmtBytes(p.size_bytes), p.segments === undefined ? "–" : String(p.segments), String(p.epoch),
      ]), "partitions-table"));
    },
  };
}

// show renders a key or value as JSON (pretty when it parses), text or hex.
function show(text: string | null | undefined, b64: string | undefined, as: string): string {
  if (text === null || (text === undefined && b64 === undefined)) return "null";
  const bytes = b64 !== undefined ? Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) : new TextEncoder().encode(text!);
  if (as === "hex") return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  if (b64 !== undefined) return "base64:" + b64;
  if (as === "json") {
    try {
      return JSON.stringify(JSON.parse(text!), null, 2);
    } catch {
      return text!;
    }
  }
  return text!;
}
