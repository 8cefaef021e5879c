// Members: who belongs to the organization and with which role; owners
// add people, change roles and remove them.
import { addMember, atLeast, listMembers, type Member, removeMember, type Role, roles, setMemberRole } from "../account";
import { errText } from "../api";
import { fill, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";

export function members(ctx: Ctx): Page {
  const owner = atLeast(ctx.me?.role ?? "viewer", "owner");
  const list = h("div", { id: "member-list" }, noData("loading"));
  const email = h("input", { id: "member-email", type: "email", placeholder: "email", autocomplete: "off" });
  const role = h("select", { id: "member-role" }, roles.map((r) => h("option", { value: r }, r)));
  role.value = "member";
  const password = h("input", { id: "member-password", type: "password", placeholder: "password, for a new user", autocomplete: "new-password" });
  const err = h("p", { class: "form-error", id: "member-error" });

  const load = async () => {
    try {
      const { members } = await listMembers();
      const me = ctx.me?.user?.id;
      fill(list, table(["Email", "Role", "Since", ""], members.map((m) => [
        m.email + (m.user === me ? " (you)" : ""),
        owner ? roleSelect(m) : m.role,
        new Date(m.created_at).toLocaleDateString(),
        owner ? h("button", { class: "danger small", "data-remove": m.user, onclick: () => void remove(m) }, "Remove") : null,
      ]), "members-table"));
    } catch (x) {
      fill(list, h("p", { class: "form-error" }, errText(x)));
    }
  };

  const roleSelect = (m: Member) => {
    const s = h("select", { "data-role-of": m.user }, roles.map((r) => h("option", { value: r }, r)));
    s.value = m.role;
    s.addEventListener("change", async () => {
      try {
        await setMemberRole(m.user, s.value as Role);
        ctx.toast(`${m.email} is now ${s.value}`);
      } catch (x) {
        ctx.toast(errText(x), "err");
        s.value = m.role;
      }
    });
    return s;
  };

  const add = async (e: Event) => {
    e.preventDefault();
    err.textContent = email.value.includes("@") ? "" : "an email address is required";
    if (err.textContent) return;
    try {
      await addMember({ email: email.value.trim(), role: role.value as Role, ...(password.value ? { password: password.value } : {}) });
      ctx.toast(`${email.value} added`);
      email.value = password.value = "";
      await load();
    } catch (x) {
      err.textContent = errText(x);
    }
  };

  const remove = async (m: Member) => {
    if (!(await ctx.confirm(`Remove ${m.email} from the organization? Their sessions stop working.`, "Remove"))) return;
    try {
      await removeMember(m.user);
      ctx.toast(`${m.email} removed`);
      await load();
    } catch (x) {
      ctx.toast(errText(x), "err");
    }
  };

  void load();
  const el = h("section", {}, h("h1", {}, "Members"),
    owner ? h("form", { class: "panel form inline", id: "add-member", onsubmit: add },
      h("strong", {}, "Add a member"), email, h("label", {}, "role ", role), password,
      h("button", { type: "submit", id: "member-add" }, "Add"), err) : null,
    h("div", { class: "panel" }, list));
  return { el, update() {} };
}
