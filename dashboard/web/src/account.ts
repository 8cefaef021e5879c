// The account API (/api/v1/auth, /org, /keys, /members, /audit, /billing):
// who is signed in, the organization, its keys, members, audit log and
// billing. The server is the guard; the console only hides what a role
// cannot do.
import { APIError, call } from "./api";
import { type AuthAnswer, accessToken, clear, start } from "./session";

export type Role = "viewer" | "member" | "admin" | "owner";

const rank: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };
export const roles: Role[] = ["viewer", "member", "admin", "owner"];

// atLeast reports whether role may do what min may.
export function atLeast(role: string, min: Role): boolean {
  return (rank[role as Role] ?? -1) >= rank[min];
}

export type Limit = number | "unlimited";

export interface Limits {
  topics: Limit;
  partitions_per_topic: Limit;
  records_per_month: Limit;
  storage_bytes: Limit;
  produce_bytes_per_second: Limit;
  produce_records_per_second: Limit;
  fetch_bytes_per_second: Limit;
  api_keys: Limit;
  members: Limit;
}

export interface Org {
  id: number;
  name: string;
  display_name?: string;
  plan: string;
  status: string;
  limits: Limits;
}

export interface Me {
  organization: Org;
  role: Role;
  user: { id: number; email: string } | null;
  key_id: string;
  auth: boolean;
}

// Who is the console's user: the answer of /auth/me; "signed-out" on 401;
// "no-accounts" on 404 (a cell without the account API: the console alone).
export async function whoAmI(): Promise<Me | "signed-out" | "no-accounts"> {
  try {
    return await call<Me>("GET", "/auth/me");
  } catch (x) {
    if (x instanceof APIError && x.status === 401) return "signed-out";
    if (x instanceof APIError && x.status === 404) return "no-accounts";
    throw x;
  }
}

export interface Signup {
  email: string;
  password: string;
  organization: string;
  display_name?: string;
}

export async function signup(s: Signup): Promise<AuthAnswer> {
  const a = await call<AuthAnswer>("POST", "/auth/signup", s);
  start(a);
  return a;
}

export async function login(email: string, password: string, organization?: string): Promise<AuthAnswer> {
  const a = await call<AuthAnswer>("POST", "/auth/login", organization ? { email, password, organization } : { email, password });
  start(a);
  return a;
}

// logout revokes the session on the server, then forgets it here even if
// the server could not be reached.
export async function logout() {
  try {
    if (accessToken()) await call("POST", "/auth/logout");
  } finally {
    clear();
  }
}

export const setPlan = (plan: string) => call<Org>("PUT", "/org/plan", { plan });

export interface Key {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const listKeys = () => call<{ keys: Key[] }>("GET", "/keys");
export const createKey = (k: { name: string; role: Role; expires_in_seconds?: number }) =>
  call<{ key: Key; secret: string }>("POST", "/keys", k);
export const revokeKey = (id: string) => call("DELETE", "/keys/" + encodeURIComponent(id));

export interface Member {
  user: number;
  email: string;
  role: Role;
  created_at: string;
}

export const listMembers = () => call<{ members: Member[] }>("GET", "/members");
export const addMember = (m: { email: string; role: Role; password?: string }) => call<Member>("POST", "/members", m);
export const setMemberRole = (user: number, role: Role) => call<Member>("PATCH", "/members/" + user, { role });
export const removeMember = (user: number) => call("DELETE", "/members/" + user);

export interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: string;
}

export function listAudit(before?: number, limit = 50) {
  const p = new URLSearchParams({ limit: String(limit) });
  if (before) p.set("before", String(before));
  return call<{ events: AuditEvent[]; next_before: number }>("GET", "/audit?" + p);
}

export interface Usage {
  records_produced: number;
  bytes_produced: number;
  records_consumed: number;
  bytes_consumed: number;
  storage_byte_hours: number;
  storage_bytes?: number;
  topics?: number;
  partitions?: number;
}

export interface UsageAnswer {
  month: string;
  plan: string;
  usage: Usage;
  limits: Limits;
}

export interface Plan {
  name: string;
  limits: Limits;
  prices: {
    base_cents: number;
    included_records: number;
    included_storage_gb_months: number;
    included_consumed_gb: number;
    per_million_records_cents: number;
    per_gb_month_stored_cents: number;
    per_gb_consumed_cents: number;
  };
}

export interface Pricing {
  currency: string;
  default_plan: string;
  plans: Plan[];
}

export interface InvoiceLine {
  description: string;
  quantity: string;
  unit: string;
  unit_price_cents: string;
  amount_cents: number;
}

export interface Invoice {
  plan: string;
  month: string;
  lines: InvoiceLine[];
  total_cents: number;
}

export const usage = () => call<UsageAnswer>("GET", "/billing/usage");
export const plans = () => call<Pricing>("GET", "/billing/plans");
export const invoice = () => call<Invoice>("GET", "/billing/invoice");
