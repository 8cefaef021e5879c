// The console's shell: navigation, hash routing, the connection indicator,
// toasts and the confirmation dialog. Pages live in pages/.
import { fill, h } from "./dom";
import { Live } from "./live";
import { agents } from "./pages/agents";
import { groupPage, groups } from "./pages/groups";
import { overview } from "./pages/overview";
import type { Ctx, Page } from "./pages/page";
import { producers } from "./pages/producers";
import { schemas } from "./pages/schemas";
import { subjectPage } from "./pages/schemas-subject";
import { settingsPage } from "./pages/settings";
import { storage } from "./pages/storage";
import { topicPage } from "./pages/topic";
import { topics } from "./pages/topics";
import { applyTheme, loadSettings, saveSettings, type Settings } from "./settings";

const settings = loadSettings();
applyTheme(settings);
const live = new Live(settings.refreshMs);

const nav: [string, string][] = [
  ["overview", "Overview"], ["topics", "Topics"], ["groups", "Consumer groups"], ["producers", "Producers"],
  ["schemas", "Schemas"], ["storage", "Storage"], ["agents", "Agents"], ["settings", "Settings"],
];

const conn = h("span", { id: "conn", class: "conn connecting" }, "connecting");
const menu = h("nav", { id: "nav" }, nav.map(([k, label]) => h("a", { href: "#/" + k, "data-page": k }, label)));
const main = h("main", { id: "main" });
const toasts = h("div", { class: "toasts", id: "toasts" });
const dialog = h("dialog", { id: "confirm" });
document.body.append(
  h("header", {}, h("button", { class: "menu-btn", "aria-label": "menu", onclick: () => menu.classList.toggle("open") }, "☰"),
    h("span", { class: "brand" }, "StreamHouse"), conn),
  h("div", { class: "layout" }, menu, main), toasts, dialog);

const ctx: Ctx = {
  live,
  settings,
  toast(msg, kind = "ok") {
    const t = h("div", { class: "toast " + kind }, msg);
    toasts.append(t);
    setTimeout(() => t.remove(), 4000);
  },
  confirm(msg, action) {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        dialog.close();
        resolve(ok);
      };
      fill(dialog, h("p", {}, msg), h("div", { class: "dialog-buttons" },
        h("button", { id: "confirm-cancel", onclick: () => done(false) }, "Cancel"),
        h("button", { id: "confirm-ok", class: "danger", onclick: () => done(true) }, action)));
      dialog.showModal();
    });
  },
  go(hash) {
    location.hash = hash;
  },
  applySettings(s: Settings) {
    Object.assign(settings, s);
    saveSettings(settings);
    live.setRefresh(settings.refreshMs);
    current?.update();
  },
};

let current: Page | null = null;

function route() {
  const [, page = "overview", arg] = location.hash.split("/").map(decodeURIComponent);
  current?.destroy?.();
  const make: Record<string, () => Page> = {
    overview: () => overview(ctx),
    topics: () => (arg ? topicPage(ctx, arg) : topics(ctx)),
    groups: () => (arg ? groupPage(ctx, arg) : groups(ctx)),
    producers: () => producers(ctx),
    schemas: () => (arg ? subjectPage(ctx, arg) : schemas(ctx)),
    storage: () => storage(ctx),
    agents: () => agents(ctx),
    settings: () => settingsPage(ctx),
  };
  current = (make[page] ?? make.overview)();
  fill(main, current.el);
  for (const a of menu.querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === page);
  menu.classList.remove("open");
  document.body.dataset.page = page;
  current.update();
}

live.onChange(() => {
  conn.className = "conn " + live.state;
  conn.textContent = live.state === "open" ? "live" : live.state;
  document.body.dataset.updated = String(live.snap?.time_ms ?? 0);
  current?.update();
});
window.addEventListener("hashchange", route);
route();
