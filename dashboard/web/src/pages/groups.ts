import { atLeast } from "../account";
import { APIError, resetGroup, type ResetGroup } from "../api";
import { LineChart } from "../chart";
import { fill, fmtInt, h, noData, table } from "../dom";
import { lagClass } from "../settings";
import type { Ctx, Page } from "./page";

export function groups(ctx: Ctx): Page {
  const list = h("div", { id: "group-list" });
  const chart = new LineChart("Lag (records)", fmtInt, "groups-lag-chart");
  const el = h("section", {}, h("h1", {}, "Consumer groups"), h("div", { class: "panel" }, list), h("div", { class: "panel" }, chart.el));
  return {
    el,
    update() {
      const s = ctx.live.snap;
      if (!s) return;
      fill(list, table(["Group", "State", "Members", "Lag"], s.groups.map((g) => [
        h("a", { href: "#/groups/" + encodeURIComponent(g.group) }, g.group), g.state, String(g.members.length),
        h("span", { class: lagClass(ctx.settings, g.lag), "data-lag": g.group }, fmtInt(g.lag)),
      ]), "groups-table"));
      chart.update(ctx.live.lag);
    },
    destroy: () => chart.destroy(),
  };
}

export function groupPage(ctx: Ctx, name: string): Page {
  const head = h("div", { class: "cards" });
  const chart = new LineChart("Lag of " + name, fmtInt, "group-lag-chart");
  const offsets = h("div", { id: "group-offsets" });
  const members = h("div", { id: "group-members" });

  const topicSel = h("select", { id: "reset-topic" });
  const to = h("select", { id: "reset-to" }, ...["earliest", "latest", "offset", "timestamp"].map((v) => h("option", { value: v }, v)));
  const arg = h("input", { id: "reset-arg", placeholder: "offset or ISO time", disabled: true });
  to.addEventListener("change", () => (arg.disabled = to.value === "earliest" || to.value === "latest"));
  const err = h("p", { class: "form-error", id: "reset-error" });
  const reset = async (e: Event) => {
    e.preventDefault();
    err.textContent = "";
    const req: ResetGroup = { to: to.value as ResetGroup["to"] };
    if (topicSel.value) req.topic = topicSel.value;
    if (req.to === "offset") {
      if (!/^\d+$/.test(arg.value.trim())) return void (err.textContent = "offset: a number ≥ 0");
      req.offset = Number(arg.value);
    } else if (req.to === "timestamp") {
      const ts = Date.parse(arg.value);
      if (Number.isNaN(ts)) return void (err.textContent = "time: an ISO date such as 2026-01-02T15:04:05Z");
      req.timestamp_ms = ts;
    }
    const what = `${req.topic ?? "all topics"} to ${req.to}${req.offset !== undefined ? " " + req.offset : ""}`;
    if (!(await ctx.confirm(`Reset group ${name}'s offsets on ${what}?`, "Reset"))) return;
    try {
      const r = await resetGroup(name, req);
      ctx.toast(`reset ${r.offsets.length} partitions of ${name}`);
    } catch (x) {
      err.textContent = x instanceof APIError ? `${x.code}: ${x.message}` : String(x);
    }
  };

  const el = h("section", {},
    h("p", {}, h("a", { href: "#/groups" }, "← Consumer groups")),
    h("h1", {}, "Group ", h("span", { id: "group-name" }, name)), head,
    h("div", { class: "panel" }, chart.el),
    h("div", { class: "panel" }, h("h2", {}, "Lag per partition"), offsets),
    h("div", { class: "panel" }, h("h2", {}, "Members"), members),
    !atLeast(ctx.me?.role ?? "owner", "member") ? null : h("form", { class: "panel form inline", id: "reset-form", onsubmit: reset },
      h("strong", {}, "Reset offsets"), h("label", {}, "topic ", topicSel), h("label", {}, "to ", to), arg,
      h("button", { type: "submit", id: "reset-btn" }, "Reset"), err,
      h("p", { class: "muted small" }, "Refused while the group has members: stop its consumers first.")));
  let topicsKnown = "";
  return {
    el,
    update() {
      const g = ctx.live.snap?.groups.find((x) => x.group === name);
      if (!g) {
        fill(head, noData(ctx.live.snap ? "this group has no offsets or members" : "waiting for data"));
        return;
      }
      fill(head,
        h("div", { class: "card" }, h("div", { class: "card-label" }, "State"), h("div", { class: "card-value small" }, g.state)),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Generation"), h("div", { class: "card-value" }, String(g.generation))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Members"), h("div", { class: "card-value" }, String(g.members.length))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Lag"), h("div", { class: "card-value " + lagClass(ctx.settings, g.lag), id: "group-lag" }, fmtInt(g.lag))));
      chart.update(ctx.live.lag, (k) => k === name);
      fill(offsets, table(["Topic", "Partition", "Committed", "High watermark", "Lag", "Member"], g.offsets.map((o) => [
        o.topic, String(o.partition), o.committed < 0 ? "none" : fmtInt(o.committed), fmtInt(o.high_watermark),
        h("span", { class: lagClass(ctx.settings, o.lag) }, fmtInt(o.lag)), o.member ?? "–",
      ]), "group-offsets-table"));
      fill(members, table(["Member", "Client", "Session timeout", "Assignment"], g.members.map((m) => [
        m.id, m.client_id, `${m.session_timeout_ms} ms`, m.assignment.map((a) => `${a.topic}/${a.partition}`).join(", "),
      ])));
      const names = [...new Set(g.offsets.map((o) => o.topic))].sort();
      if (names.join(",") !== topicsKnown) {
        topicsKnown = names.join(",");
        const keep = topicSel.value;
        fill(topicSel, h("option", { value: "" }, "all topics"), names.map((n) => h("option", { value: n }, n)));
        topicSel.value = keep;
      }
    },
    destroy: () => chart.destroy(),
  };
}
