// Small DOM helpers: the console has no framework, pages build elements
// with h() and replace the parts that change on each snapshot.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: (Child | Child[])[]) {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c === null || c === undefined || c === false) continue;
    else el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

// fill replaces el's children.
export function fill(el: Element, ...children: (Child | Child[])[]) {
  el.replaceChildren();
  append(el, children);
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M/s";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k/s";
  return (n >= 10 ? n.toFixed(0) : n.toFixed(1)) + "/s";
}

export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

export function fmtSeconds(s: number | undefined): string {
  if (s === undefined) return "–";
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
}

// table builds a table from a header and rows; empty rows show "no data".
export function table(head: string[], rows: Child[][], id?: string): HTMLElement {
  return h("div", { class: "table-wrap" },
    h("table", { id },
      h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length === 0
        ? h("tr", {}, h("td", { colspan: head.length, class: "muted" }, "no data"))
        : rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

export function card(label: string, value: Child, id?: string): HTMLElement {
  return h("div", { class: "card", id }, h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value));
}

export function noData(what = "no data"): HTMLElement {
  return h("p", { class: "muted no-data" }, what);
}
