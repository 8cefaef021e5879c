// Audit log (admins): who did what and when, newest first, a page at a
// time (before= the oldest shown).
import { type AuditEvent, listAudit } from "../account";
import { errText } from "../api";
import { fill, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";

const pageSizes = [10, 50, 100];

export function audit(_ctx: Ctx): Page {
  const list = h("div", { id: "audit-list" }, noData("loading"));
  const more = h("button", { id: "audit-more", class: "small", hidden: true }, "Older");
  const err = h("p", { class: "form-error", id: "audit-error" });
  const size = h("select", { id: "audit-size" }, pageSizes.map((n) => h("option", { value: n }, `${n} a page`)));
  size.value = "50";
  let events: AuditEvent[] = [];
  let next = 0;

  const render = () => fill(list, table(["When", "Who", "Action", "Target", "Detail"], events.map((e) => [
    h("span", { title: e.at }, new Date(e.at).toLocaleString()), e.actor,
    h("span", { class: "audit-action" }, e.action), e.target, h("span", { class: "small" }, e.detail)]), "audit-table"));

  const load = async (before?: number) => {
    err.textContent = "";
    try {
      const page = await listAudit(before, Number(size.value));
      events = before ? events.concat(page.events) : page.events;
      next = page.next_before;
      more.hidden = !next;
      render();
    } catch (x) {
      err.textContent = errText(x);
    }
  };
  more.addEventListener("click", () => void load(next));
  size.addEventListener("change", () => void load());
  void load();
  const el = h("section", {}, h("h1", {}, "Audit log"),
    h("div", { class: "panel" }, h("div", { class: "toolbar" }, size, h("button", { id: "audit-refresh", class: "small", onclick: () => void load() }, "Refresh")),
      err, list, h("div", { class: "toolbar" }, more)));
  return { el, update() {} };
}
