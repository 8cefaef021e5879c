import { atLeast } from "../account";
import { diffLines, sideBySide } from "../diff";
import { card, fill, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";
import {
  checkCompatibility, errText, getVersion, level, listVersions, pretty, register, SchemaError, schemaTypes, typeOf, type SubjectVersion,
} from "./schemas-api";

// maxVersionRows bounds the versions read for the table (the newest);
// older ones can still be compared.
export const maxVersionRows = 50;

// maxSchemaChars is the console's body limit (256 KiB) less room for the
// JSON around the schema; a longer one is refused before it is sent.
export const maxSchemaChars = 250_000;

const example = `{
  "type": "record",
  "name": "Example",
  "fields": [
    { "name": "id", "type": "string" }
  ]
}`;

// subjectPage shows one subject: its versions, two of them side by side
// with a line diff, and a form that checks a new version's compatibility
// and registers it.
export function subjectPage(ctx: Ctx, subject: string): Page {
  const summary = h("div", { class: "cards" });
  const versions = h("div", { id: "versions" }, noData("loading"));
  const left = h("select", { id: "diff-left" });
  const right = h("select", { id: "diff-right" });
  const diffOut = h("div", { id: "diff" });

  const type = h("select", { id: "schema-type" }, schemaTypes.map((t) => h("option", { value: t }, t)));
  const text = h("textarea", { id: "schema-text", rows: 14, spellcheck: "false", placeholder: example });
  const result = h("div", { id: "schema-result" });
  const cache = new Map<number, SubjectVersion>();
  let numbers: number[] = [];

  const version = async (n: number) => {
    let v = cache.get(n);
    if (!v) cache.set(n, (v = await getVersion(subject, n)));
    return v;
  };

  const load = async () => {
    try {
      numbers = await listVersions(subject);
    } catch (x) {
      if (!(x instanceof SchemaError && x.code === 40401)) return void fill(versions, h("p", { class: "form-error" }, errText(x)));
      numbers = []; // a new subject
    }
    const lvl = await level(subject).catch((x) => ({ level: errText(x), own: true }));
    const shown = await Promise.all(numbers.slice(-maxVersionRows).reverse().map(version));
    const latest = shown[0];
    fill(summary, card("Versions", String(numbers.length), "subject-versions"),
      card("Latest", latest ? `v${latest.version} (id ${latest.id})` : "–"),
      card("Type", latest ? typeOf(latest) : "–"),
      card("Compatibility", h("span", { id: "subject-level" }, lvl.level + (lvl.own ? "" : " (default)"))));
    fill(versions, numbers.length === 0
      ? noData("no versions yet: register the first one below")
      : table(["Version", "Id", "Type", "References"], shown.map((v) => [
        `v${v.version}`, String(v.id), typeOf(v), String(v.references?.length ?? 0),
      ]), "versions-table"),
      numbers.length > maxVersionRows ? h("p", { class: "muted" }, `the newest ${maxVersionRows} of ${numbers.length} versions`) : null);
    const opts = () => numbers.slice().reverse().map((n) => h("option", { value: n }, `v${n}`));
    fill(left, opts());
    fill(right, opts());
    if (numbers.length > 0) {
      right.value = String(numbers[numbers.length - 1]);
      left.value = String(numbers[Math.max(0, numbers.length - 2)]);
      if (!text.value && latest) {
        text.value = pretty(latest);
        type.value = typeOf(latest);
      }
    }
    await compare();
  };

  const compare = async () => {
    if (numbers.length === 0) return void fill(diffOut, noData("nothing to compare yet"));
    try {
      const [a, b] = await Promise.all([version(Number(left.value)), version(Number(right.value))]);
      const ops = diffLines(pretty(a).split("\n"), pretty(b).split("\n"));
      if (!ops) return void fill(diffOut, noData("these versions are too large to compare line by line"));
      const rows = sideBySide(ops);
      const added = ops.filter((o) => o.kind === "add").length;
      const removed = ops.filter((o) => o.kind === "del").length;
      const cell = (side: { n: number; line: string } | null) => [
        h("td", { class: "ln" }, side ? String(side.n) : ""), h("td", { class: "code" }, side ? side.line : ""),
      ];
      fill(diffOut, h("p", { class: "muted", id: "diff-summary" }, `v${a.version} → v${b.version}: +${added} −${removed} lines`),
        h("div", { class: "table-wrap" }, h("table", { class: "diff", id: "diff-table" },
          h("colgroup", {}, h("col", { class: "ln" }), h("col", {}), h("col", { class: "ln" }), h("col", {})),
          h("thead", {}, h("tr", {}, h("th", { colspan: 2 }, `v${a.version} (id ${a.id})`), h("th", { colspan: 2 }, `v${b.version} (id ${b.id})`))),
          h("tbody", {}, rows.map((r) => h("tr", { class: "d-" + r.kind }, cell(r.left), cell(r.right)))))));
    } catch (x) {
      fill(diffOut, h("p", { class: "form-error" }, errText(x)));
    }
  };
  left.addEventListener("change", () => void compare());
  right.addEventListener("change", () => void compare());

  // input is the form's schema, or null after saying what is wrong with it.
  const input = () => {
    const problem = text.value.trim() === "" ? "a schema is required"
      : text.value.length > maxSchemaChars ? `the schema is ${text.value.length} characters, over the console's limit of ${maxSchemaChars}` : null;
    if (problem) fill(result, h("p", { class: "form-error" }, problem));
    return problem ? null : { schema: text.value, schemaType: type.value };
  };
  const check = async () => {
    const n = input();
    if (!n) return;
    fill(result, h("p", { class: "muted" }, "checking…"));
    try {
      const c = await checkCompatibility(subject, n);
      fill(result, c.is_compatible
        ? h("p", { class: "ok", id: "check-ok" }, numbers.length ? "compatible: it can be registered" : "compatible: no earlier version to check against")
        : h("div", { id: "check-refused" }, h("p", { class: "bad" }, "not compatible:"),
          h("ul", { class: "reasons" }, (c.messages ?? []).map((m) => h("li", {}, m)))));
    } catch (x) {
      fill(result, h("p", { class: "form-error" }, errText(x)));
    }
  };
  const add = async () => {
    const n = input();
    if (!n) return;
    fill(result, h("p", { class: "muted" }, "registering…"));
    try {
      const { id } = await register(subject, n);
      await load();
      const v = (await Promise.all(numbers.slice(-maxVersionRows).map(version))).find((x) => x.id === id);
      fill(result, h("p", { class: "ok", id: "register-ok" }, `registered: id ${id}` + (v ? `, version ${v.version}` : "")));
      ctx.toast(`schema registered under ${subject}`);
    } catch (x) {
      fill(result, h("p", { class: "form-error", id: "register-error" }, errText(x)));
    }
  };
  void load();

  const el = h("section", {},
    h("p", {}, h("a", { href: "#/schemas" }, "← Schemas")),
    h("h1", {}, "Subject ", h("span", { id: "subject-name" }, subject)), summary,
    h("div", { class: "panel" }, h("h2", {}, "Versions"), versions),
    h("div", { class: "panel" }, h("h2", {}, "Compare"),
      h("div", { class: "toolbar" }, h("label", {}, "left ", left), h("label", {}, "right ", right)), diffOut),
    h("div", { class: "panel" }, h("h2", {}, "Register a new version"),
      h("div", { class: "toolbar" }, h("label", {}, "type ", type),
        h("button", { id: "schema-check", onclick: () => void check() }, "Check compatibility"),
        // Registering is for admins (the server checks again); checking is for all.
        atLeast(ctx.me?.role ?? "owner", "admin") ? h("button", { id: "schema-register", onclick: () => void add() }, "Register") : null),
      text, result));
  return { el, update() {} };
}
