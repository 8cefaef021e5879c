import { fill, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";
import { errText, getVersion, level, listSubjects, typeOf } from "./schemas-api";

// maxSubjects bounds the list: each row costs two or three calls.
export const maxSubjects = 200;

// schemas lists the tenant's subjects with their latest version, its type
// and the compatibility level that applies; a subject opens its page, which
// also registers a new subject's first version. It reads the registry when
// opened (Refresh reads again), not on every snapshot.
export function schemas(ctx: Ctx): Page {
  const list = h("div", { id: "subject-list" }, noData("loading"));
  const name = h("input", { id: "new-subject-name", placeholder: "subject, e.g. orders-value", autocomplete: "off" });
  const err = h("p", { class: "form-error", id: "new-subject-error" });
  const open = (e: Event) => {
    e.preventDefault();
    const s = name.value.trim();
    err.textContent = s ? "" : "a subject name is required";
    if (s) ctx.go("#/schemas/" + encodeURIComponent(s));
  };

  const load = async () => {
    try {
      const subjects = (await listSubjects()).sort();
      const rows = await Promise.all(subjects.slice(0, maxSubjects).map(async (s) => {
        const link = h("a", { href: "#/schemas/" + encodeURIComponent(s), class: "subject-link" }, s);
        try {
          const [v, l] = await Promise.all([getVersion(s, "latest"), level(s)]);
          return [link, String(v.version), String(v.id), typeOf(v), h("span", { title: l.own ? "the subject's own level" : "the default level" }, l.level + (l.own ? "" : " (default)"))];
        } catch (x) {
          return [link, "–", "–", "–", h("span", { class: "bad" }, errText(x))]; // deleted since the list
        }
      }));
      fill(list, table(["Subject", "Latest version", "Id", "Type", "Compatibility"], rows, "subjects-table"),
        subjects.length > maxSubjects ? h("p", { class: "muted" }, `the first ${maxSubjects} of ${subjects.length} subjects`) : null);
    } catch (x) {
      fill(list, h("p", { class: "form-error" }, errText(x)));
    }
  };
  void load();

  const el = h("section", {}, h("h1", {}, "Schemas"),
    h("form", { class: "panel form inline", id: "open-subject", onsubmit: open },
      h("strong", {}, "Subject"), name, h("button", { type: "submit", id: "open-subject-btn" }, "Open or create"), err),
    h("div", { class: "panel" }, h("div", { class: "toolbar" }, h("button", { id: "subjects-refresh", onclick: () => void load() }, "Refresh")), list));
  return { el, update() {} };
}
