import { atLeast } from "../account";
import { APIError, createTopic, deleteTopic, maxPartitions, topicNameProblem } from "../api";
import { fill, fmtBytes, fmtInt, fmtRate, h, table } from "../dom";
import type { TopicStat } from "../live";
import type { Ctx, Page } from "./page";

type SortKey = "name" | "partitions" | "records" | "size_bytes" | "records_per_sec";

export function topics(ctx: Ctx): Page {
  // Creating and deleting topics is for admins; the server checks again.
  const admin = atLeast(ctx.me?.role ?? "owner", "admin");
  const search = h("input", { id: "topic-search", type: "search", placeholder: "search topics" });
  const sort = h("select", { id: "topic-sort" },
    ...(["name", "partitions", "records", "size_bytes", "records_per_sec"] as SortKey[]).map((k) => h("option", { value: k }, "sort: " + k.replace(/_/g, " "))));
  const list = h("div", { id: "topic-list" });

  const name = h("input", { id: "new-topic-name", placeholder: "name", autocomplete: "off" });
  const parts = h("input", { id: "new-topic-partitions", type: "number", min: 1, max: maxPartitions, value: 3 });
  const durability = h("select", { id: "new-topic-durability" }, h("option", { value: "wal" }, "wal"), h("option", { value: "object" }, "object"));
  const err = h("p", { class: "form-error", id: "new-topic-error" });
  const create = async (e: Event) => {
    e.preventDefault();
    const problem = topicNameProblem(name.value) ??
      (Number.isInteger(Number(parts.value)) && Number(parts.value) >= 1 && Number(parts.value) <= maxPartitions ? null : `partitions: 1 to ${maxPartitions}`);
    err.textContent = problem ?? "";
    if (problem) return;
    try {
      await createTopic({ name: name.value, partitions: Number(parts.value), durability: durability.value });
      ctx.toast(`topic ${name.value} created`);
      name.value = "";
    } catch (x) {
      err.textContent = x instanceof APIError ? `${x.code}: ${x.message}` : String(x);
    }
  };
  name.addEventListener("input", () => (err.textContent = name.value ? topicNameProblem(name.value) ?? "" : ""));

  const render = () => {
    const s = ctx.live.snap;
    if (!s) return;
    const q = search.value.toLowerCase();
    const key = sort.value as SortKey;
    const rows = s.topics.filter((t) => t.name.toLowerCase().includes(q)).sort((a: TopicStat, b: TopicStat) =>
      key === "name" ? a.name.localeCompare(b.name) : (b[key] as number) - (a[key] as number));
    fill(list, table(["Topic", "Partitions", "Records", "Size", "Throughput", ""], rows.map((t) => [
      h("a", { href: "#/topics/" + encodeURIComponent(t.name), class: "topic-link" }, t.name),
      fmtInt(t.partitions), fmtInt(t.records), fmtBytes(t.size_bytes), fmtRate(t.records_per_sec),
      admin ? h("button", { class: "danger small", "data-delete": t.name, onclick: () => remove(t.name) }, "Delete") : null,
    ]), "topics-table"), s.topics_truncated ? h("p", { class: "muted" }, "more topics than the console shows") : null);
  };
  const remove = async (topic: string) => {
    if (!(await ctx.confirm(`Delete topic ${topic} and all its records? This cannot be undone.`, "Delete"))) return;
    try {
      await deleteTopic(topic);
      ctx.toast(`topic ${topic} deleted`);
    } catch (x) {
      ctx.toast(x instanceof APIError ? `${x.code}: ${x.message}` : String(x), "err");
    }
  };
  search.addEventListener("input", render);
  sort.addEventListener("change", render);

  const el = h("section", {}, h("h1", {}, "Topics"),
    !admin ? null : h("form", { class: "panel form inline", id: "create-topic", onsubmit: create },
      h("strong", {}, "New topic"), name, h("label", {}, "partitions ", parts), h("label", {}, "durability ", durability),
      h("button", { type: "submit", id: "create-topic-btn" }, "Create"), err),
    h("div", { class: "panel" }, h("div", { class: "toolbar" }, search, sort), list));
  return { el, update: render };
}
