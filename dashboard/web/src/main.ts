// The console's shell: sign-in, navigation, hash routing, the connection
// indicator, toasts and the confirmation dialog. Pages live in pages/.
import { atLeast, logout, type Me, whoAmI } from "./account";
import { errText } from "./api";
import { fill, h } from "./dom";
import { Live } from "./live";
import { agents } from "./pages/agents";
import { audit } from "./pages/audit";
import { billing } from "./pages/billing";
import { groupPage, groups } from "./pages/groups";
import { keys } from "./pages/keys";
import { loginScreen } from "./pages/login";
import { members } from "./pages/members";
import { overview } from "./pages/overview";
import type { Ctx, Page } from "./pages/page";
import { producers } from "./pages/producers";
import { schemas } from "./pages/schemas";
import { subjectPage } from "./pages/schemas-subject";
import { settingsPage } from "./pages/settings";
import { storage } from "./pages/storage";
import { topicPage } from "./pages/topic";
import { topics } from "./pages/topics";
import { accessToken, clear, onSessionEnd, schedule, signedIn } from "./session";
import { applyTheme, loadSettings, saveSettings, type Settings } from "./settings";

const settings = loadSettings();
applyTheme(settings);

// stop ends the running console (its feed and page) before another screen.
let stop: (() => void) | null = null;

// booting counts boot calls: only the latest one draws (a session that
// ends while a boot waits starts another).
let booting = 0;

// boot asks who the user is and shows the console, or the sign-in screen.
async function boot(note = "") {
  const mine = ++booting;
  stop?.();
  stop = null;
  let me: Me | "signed-out" | "no-accounts";
  try {
    me = await whoAmI();
    if (mine !== booting) return;
  } catch (x) {
    if (mine !== booting) return;
    document.body.replaceChildren(h("div", { class: "auth-screen" }, h("p", { class: "form-error" }, "the cell did not answer: " + errText(x)),
      h("button", { onclick: () => void boot() }, "Try again")));
    return;
  }
  if (me === "signed-out") {
    clear();
    document.body.dataset.page = "login";
    document.body.replaceChildren(loginScreen(() => void boot()));
    if (note) document.querySelector("#login-error")!.textContent = note;
    return;
  }
  if (signedIn()) schedule();
  stop = startConsole(me === "no-accounts" ? null : me);
}

onSessionEnd(() => void boot("your session ended: sign in again"));

function startConsole(me: Me | null): () => void {
  const live = new Live(settings.refreshMs, accessToken, async () => {
    // Reconnecting after a failure: asking who we are renews a refused
    // token, or ends the session (onSessionEnd shows the login page).
    if (signedIn()) await whoAmI();
  });
  const role = me?.role ?? "owner";
  const nav: [string, string][] = [
    ["overview", "Overview"], ["topics", "Topics"], ["groups", "Consumer groups"], ["producers", "Producers"],
    ["schemas", "Schemas"], ["storage", "Storage"], ["agents", "Agents"],
  ];
  // The account pages need the account API; keys and members mean
  // something only when the cell authenticates.
  if (me) nav.push(["billing", "Billing"]);
  if (me && atLeast(role, "admin")) nav.push(["audit", "Audit log"]);
  if (me?.auth && atLeast(role, "admin")) nav.push(["keys", "API keys"]);
  if (me?.auth) nav.push(["members", "Members"]);
  nav.push(["settings", "Settings"]);

  const conn = h("span", { id: "conn", class: "conn connecting" }, "connecting");
  const menu = h("nav", { id: "nav" }, nav.map(([k, label]) => h("a", { href: "#/" + k, "data-page": k }, label)));
  const main = h("main", { id: "main" });
  const toasts = h("div", { class: "toasts", id: "toasts" });
  const dialog = h("dialog", { id: "confirm" });
  const who = me?.auth
    ? h("span", { class: "who", id: "who" },
      h("span", { id: "who-org" }, me.organization.display_name || me.organization.name), " · ",
      h("span", { id: "who-user" }, me.user?.email ?? "key " + me.key_id), " · ",
      h("span", { id: "who-role" }, me.role),
      h("button", { id: "logout", class: "small", onclick: () => void logout().catch(() => {}).then(() => boot()) }, "Log out"))
    : null;
  document.body.replaceChildren(
    h("header", {}, h("button", { class: "menu-btn", "aria-label": "menu", onclick: () => menu.classList.toggle("open") }, "☰"),
      h("span", { class: "brand" }, "StreamHouse"), who, conn),
    h("div", { class: "layout" }, menu, main), toasts, dialog);

  const ctx: Ctx = {
    live,
    me,
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
  const allowed = new Set(nav.map(([k]) => k));

  function route() {
    const [, want = "overview", arg] = location.hash.split("/").map(decodeURIComponent);
    const page = allowed.has(want) ? want : "overview";
    current?.destroy?.();
    const make: Record<string, () => Page> = {
      overview: () => overview(ctx),
      topics: () => (arg ? topicPage(ctx, arg) : topics(ctx)),
      groups: () => (arg ? groupPage(ctx, arg) : groups(ctx)),
      producers: () => producers(ctx),
      schemas: () => (arg ? subjectPage(ctx, arg) : schemas(ctx)),
      storage: () => storage(ctx),
      agents: () => agents(ctx),
      billing: () => billing(ctx),
      audit: () => audit(ctx),
      keys: () => keys(ctx),
      members: () => members(ctx),
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
  return () => {
    window.removeEventListener("hashchange", route);
    current?.destroy?.();
    live.close();
    delete document.body.dataset.updated;
  };
}

void boot();
