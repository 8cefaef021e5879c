// API keys (admins): the organization's keys, a form to create one (its
// secret shown once, with a copy button) and revocation.
import { atLeast, createKey, type Key, listKeys, revokeKey, type Role, roles } from "../account";
import { errText } from "../api";
import { fill, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";

const expiries: [string, number][] = [["never", 0], ["1 day", 86400], ["7 days", 7 * 86400], ["30 days", 30 * 86400], ["90 days", 90 * 86400], ["1 year", 365 * 86400]];

// maxKeyName bounds a key's name in the form; the server has its own rule.
const maxKeyName = 100;

export function keys(ctx: Ctx): Page {
  const mine = ctx.me?.role ?? "owner";
  const list = h("div", { id: "key-list" }, noData("loading"));
  const name = h("input", { id: "key-name", placeholder: "name, e.g. ingest-service", autocomplete: "off", maxlength: maxKeyName });
  // A key's role is at most its creator's.
  const role = h("select", { id: "key-role" }, roles.filter((r) => atLeast(mine, r)).map((r) => h("option", { value: r }, r)));
  role.value = "member";
  const expiry = h("select", { id: "key-expiry" }, expiries.map(([label, s]) => h("option", { value: s }, "expires: " + label)));
  const err = h("p", { class: "form-error", id: "key-error" });
  const secretBox = h("div", { id: "key-secret-box" });

  const load = async () => {
    try {
      const { keys } = await listKeys();
      fill(list, table(["Name", "Id", "Role", "Created", "Expires", "Last used", "State", ""], keys.map((k) => [
        k.name, h("code", {}, k.id), k.role, when(k.created_at) + " by " + k.created_by, k.expires_at ? when(k.expires_at) : "never",
        k.last_used_at ? when(k.last_used_at) : "never", state(k),
        k.revoked_at ? null : h("button", { class: "danger small", "data-revoke": k.id, onclick: () => void revoke(k) }, "Revoke"),
      ]), "keys-table"));
    } catch (x) {
      fill(list, h("p", { class: "form-error" }, errText(x)));
    }
  };

  const create = async (e: Event) => {
    e.preventDefault();
    const n = name.value.trim();
    err.textContent = n ? "" : "a name is required";
    if (!n) return;
    try {
      const secs = Number(expiry.value);
      const made = await createKey({ name: n, role: role.value as Role, ...(secs ? { expires_in_seconds: secs } : {}) });
      name.value = "";
      showSecret(made.key, made.secret);
      await load();
    } catch (x) {
      err.textContent = errText(x);
    }
  };

  // showSecret shows the new key's secret until the page is left: the
  // server keeps only its hash and will never show it again.
  const showSecret = (k: Key, secret: string) => {
    const code = h("code", { id: "key-secret" }, secret);
    const copy = h("button", { id: "key-copy", class: "small" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copy.textContent = "Copied";
      } catch {
        // No clipboard (an insecure origin): select it for the user to copy.
        getSelection()?.selectAllChildren(code);
        copy.textContent = "Selected: press Ctrl+C";
      }
    });
    fill(secretBox, h("div", { class: "panel secret" },
      h("p", {}, h("strong", {}, `Key ${k.name} (${k.role}) created.`), " Copy its secret now: it is shown only once."),
      h("div", { class: "secret-row" }, code, copy),
      h("button", { class: "small", id: "key-secret-done", onclick: () => fill(secretBox) }, "Done")));
  };

  const revoke = async (k: Key) => {
    if (!(await ctx.confirm(`Revoke key ${k.name}? Programs using it are refused from now on.`, "Revoke"))) return;
    try {
      await revokeKey(k.id);
      ctx.toast(`key ${k.name} revoked`);
      await load();
    } catch (x) {
      ctx.toast(errText(x), "err");
    }
  };

  void load();
  const el = h("section", {}, h("h1", {}, "API keys"),
    h("form", { class: "panel form inline", id: "create-key", onsubmit: create },
      h("strong", {}, "New key"), name, h("label", {}, "role ", role), expiry,
      h("button", { type: "submit", id: "key-create" }, "Create"), err),
    secretBox,
    h("div", { class: "panel" }, list));
  return { el, update() {} };
}

function when(iso: string): string {
  return new Date(iso).toLocaleString();
}

function state(k: Key): HTMLElement {
  if (k.revoked_at) return h("span", { class: "bad" }, "revoked");
  if (k.expires_at && Date.parse(k.expires_at) <= Date.now()) return h("span", { class: "bad" }, "expired");
  return h("span", { class: "ok" }, "active");
}
