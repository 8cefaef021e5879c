import { fill, fmtInt, h, table } from "../dom";
import { metricSamples, type Ctx, type Page } from "./page";

export function agents(ctx: Ctx): Page {
  const body = h("div", { id: "agents" });
  const el = h("section", {}, h("h1", {}, "Agents and cells"), h("div", { class: "panel" }, body));
  return {
    el,
    update() {
      const s = ctx.live.snap;
      if (!s) return;
      const owned = new Map<string, number>();
      for (const m of metricSamples(ctx, "streamhouse_agent_partitions_owned") ?? []) owned.set(m.labels?.agent ?? "", m.value);
      fill(body, table(["Agent", "State", "Partitions (leases)", "Owned (metric)", "Partitions"],
        s.agents.map((a) => [a.id, h("span", { class: a.live ? "ok" : "bad" }, a.live ? "live" : "gone"), fmtInt(a.partitions.length),
          owned.has(a.id) ? fmtInt(owned.get(a.id)!) : owned.size === 1 && s.agents.length === 1 ? fmtInt([...owned.values()][0]) : "–",
          h("span", { class: "small" }, a.partitions.map((p) => `${p.topic}/${p.partition}`).join(", "))])));
    },
  };
}
