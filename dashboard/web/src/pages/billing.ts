// Billing: this month's usage against the plan's limits, the month's
// invoice so far (owners), and the plans side by side with a button to
// change (owners). Read when opened; Refresh reads again.
import { atLeast, invoice, type Invoice, type Limit, type Plan, plans, type Pricing, setPlan, usage, type UsageAnswer } from "../account";
import { errText } from "../api";
import { fill, fmtInt, h, noData, table } from "../dom";
import type { Ctx, Page } from "./page";

export function billing(ctx: Ctx): Page {
  const owner = atLeast(ctx.me?.role ?? "viewer", "owner");
  const meters = h("div", { id: "billing-meters", class: "meters" }, noData("loading"));
  const bill = h("div", { id: "invoice" }, noData("loading"));
  const planList = h("div", { id: "plans", class: "plans" }, noData("loading"));
  const head = h("p", { class: "muted", id: "billing-plan" });
  let u: UsageAnswer | null = null;
  let pricing: Pricing | null = null;

  const renderMeters = () => {
    if (!u) return;
    // Partitions per topic is a per-topic limit: the largest topic counts.
    const topics = ctx.live.snap?.topics ?? [];
    const widest = topics.reduce((n, t) => Math.max(n, t.partitions), 0);
    fill(meters,
      meter("records", "Records produced this month", u.usage.records_produced, u.limits.records_per_month, fmtInt),
      meter("storage", "Storage", u.usage.storage_bytes ?? 0, u.limits.storage_bytes, fmtGB),
      meter("topics", "Topics", u.usage.topics ?? topics.length, u.limits.topics, fmtInt),
      meter("partitions", "Partitions per topic (largest)", widest, u.limits.partitions_per_topic, fmtInt));
  };

  const load = async () => {
    const [ua, pa, ia] = await Promise.allSettled([usage(), plans(), owner ? invoice() : Promise.reject(null)]);
    if (ua.status === "fulfilled") {
      u = ua.value;
      head.textContent = `plan ${u.plan} · ${u.month}`;
      renderMeters();
    } else fill(meters, h("p", { class: "form-error" }, errText(ua.reason)));
    if (pa.status === "fulfilled") {
      pricing = pa.value;
      renderPlans();
    } else fill(planList, h("p", { class: "form-error" }, errText(pa.reason)));
    if (!owner) fill(bill, noData("the invoice is for the organization's owners"));
    else if (ia.status === "fulfilled") renderInvoice(ia.value, pricing?.currency ?? "usd");
    else fill(bill, h("p", { class: "form-error" }, errText(ia.reason)));
  };

  const renderInvoice = (inv: Invoice, currency: string) => {
    fill(bill,
      table(["Item", "Quantity", "Unit price", "Amount"], inv.lines.map((l) => [
        l.description, `${l.quantity} ${l.unit}`, cents(Number(l.unit_price_cents), currency, 4), cents(l.amount_cents, currency)]), "invoice-table"),
      h("p", { class: "invoice-total" }, "Total so far ", h("strong", { id: "invoice-total" }, cents(inv.total_cents, currency))));
  };

  const renderPlans = () => {
    if (!pricing || !u) return;
    const current = u.plan;
    fill(planList, ...pricing.plans.map((p) => planCard(p, pricing!.currency, p.name === current, owner, () => choose(p.name))));
  };

  const choose = async (plan: string) => {
    if (!(await ctx.confirm(`Change the organization's plan to ${plan}? Its limits and prices apply at once.`, "Change plan"))) return;
    try {
      await setPlan(plan);
      ctx.toast(`plan changed to ${plan}`);
      await load();
    } catch (x) {
      ctx.toast(errText(x), "err");
    }
  };

  void load();
  const el = h("section", {}, h("h1", {}, "Billing"), head,
    h("div", { class: "panel" }, h("div", { class: "toolbar" }, h("h2", {}, "Usage against the plan's limits"),
      h("button", { id: "billing-refresh", class: "small", onclick: () => void load() }, "Refresh")), meters),
    h("div", { class: "panel" }, h("h2", {}, "This month's invoice"), bill),
    h("div", { class: "panel" }, h("h2", {}, "Plans"), planList));
  return { el, update: renderMeters };
}

// meter is a usage bar: green under 80 % of the limit, amber to 100 %, red at it.
function meter(id: string, label: string, used: number, limit: Limit, fmt: (n: number) => string): HTMLElement {
  const unlimited = limit === "unlimited";
  const pct = unlimited || limit === 0 ? 0 : Math.min(100, (used / limit) * 100);
  const level = unlimited ? "ok" : pct >= 100 ? "crit" : pct >= 80 ? "warn" : "ok";
  const fillBar = h("div", { class: "meter-fill " + level });
  fillBar.style.width = pct.toFixed(1) + "%";
  return h("div", { class: "meter", "data-meter": id },
    h("div", { class: "meter-head" }, h("span", {}, label),
      h("span", { class: "meter-value" }, `${fmt(used)} of ${unlimited ? "unlimited" : fmt(limit)}`)),
    h("div", { class: "meter-bar", role: "progressbar", "aria-valuenow": Math.round(pct), "aria-valuemin": 0, "aria-valuemax": 100 }, fillBar));
}

function planCard(p: Plan, currency: string, current: boolean, owner: boolean, choose: () => void): HTMLElement {
  const lim = (l: Limit, fmt: (n: number) => string) => (l === "unlimited" ? "unlimited" : fmt(l));
  return h("div", { class: "plan" + (current ? " current" : ""), "data-plan": p.name },
    h("h3", {}, p.name, current ? h("span", { class: "badge" }, "current") : null),
    h("div", { class: "plan-price" }, cents(p.prices.base_cents, currency), h("span", { class: "muted" }, " / month")),
    h("ul", {},
      h("li", {}, lim(p.limits.topics, fmtInt), " topics"),
      h("li", {}, lim(p.limits.partitions_per_topic, fmtInt), " partitions per topic"),
      h("li", {}, lim(p.limits.records_per_month, fmtInt), " records a month"),
      h("li", {}, lim(p.limits.storage_bytes, fmtGB), " stored"),
      h("li", {}, lim(p.limits.produce_records_per_second, fmtInt), " records/s produced"),
      h("li", {}, lim(p.limits.members, fmtInt), " members, ", lim(p.limits.api_keys, fmtInt), " API keys"),
      p.prices.per_million_records_cents > 0 ? h("li", {}, cents(p.prices.per_million_records_cents, currency, 4), " per million records over ", fmtInt(p.prices.included_records)) : null),
    owner && !current ? h("button", { "data-choose-plan": p.name, onclick: choose }, "Switch to " + p.name) : null);
}

// cents formats an amount of cents in the currency, with up to `digits`
// decimals of the unit (unit prices can be fractions of a cent).
export function cents(c: number, currency: string, digits = 2): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase(), minimumFractionDigits: 2, maximumFractionDigits: digits }).format(c / 100);
  } catch {
    return (c / 100).toFixed(digits) + " " + currency;
  }
}

// fmtGB formats bytes in the decimal units the plans and invoices use (a
// GB is 10^9 bytes), not the binary ones of the storage pages.
export function fmtGB(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}
