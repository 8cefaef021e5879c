import { h } from "../dom";
import type { Ctx, Page } from "./page";

export function settingsPage(ctx: Ctx): Page {
  const s = { ...ctx.settings };
  const refresh = h("input", { id: "set-refresh", type: "number", min: 500, max: 60000, step: 500, value: s.refreshMs });
  const warn = h("input", { id: "set-warn", type: "number", min: 0, value: s.lagWarn });
  const crit = h("input", { id: "set-crit", type: "number", min: 0, value: s.lagCrit });
  const theme = h("select", { id: "set-theme" }, h("option", { value: "dark" }, "dark"), h("option", { value: "light" }, "light"));
  theme.value = s.theme;
  const msg = h("p", { class: "form-error" });
  const save = (e: Event) => {
    e.preventDefault();
    const r = Number(refresh.value), w = Number(warn.value), c = Number(crit.value);
    if (!(r >= 500 && r <= 60000)) return void (msg.textContent = "refresh: 500 to 60000 ms");
    if (!(w >= 0 && c >= w)) return void (msg.textContent = "thresholds: 0 ≤ warning ≤ critical");
    msg.textContent = "";
    ctx.applySettings({ refreshMs: r, lagWarn: w, lagCrit: c, theme: theme.value as "dark" | "light" });
    ctx.toast("settings saved");
  };
  const el = h("section", {}, h("h1", {}, "Settings"),
    h("form", { class: "panel form", onsubmit: save },
      h("label", {}, "Refresh (ms) ", refresh),
      h("label", {}, "Lag warning at ", warn),
      h("label", {}, "Lag critical at ", crit),
      h("label", {}, "Theme ", theme),
      msg,
      h("button", { type: "submit", id: "set-save" }, "Save")));
  return { el, update() {} };
}
