// The schema registry's calls the Schemas page makes, through the console's
// same-origin /schema-api/ (cmd/streamhouse/console_schema.go): Confluent's
// REST API, whose errors are {"error_code": N, "message": "..."}.
import { authFetch } from "../session";

export class SchemaError extends Error {
  constructor(public status: number, public code: number, message: string) {
    super(message);
  }
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const resp = await authFetch("/schema-api" + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new SchemaError(resp.status, data?.error_code ?? resp.status, data?.message ?? resp.statusText);
  return data as T;
}

export const errText = (x: unknown) => (x instanceof SchemaError ? `${x.code}: ${x.message}` : String(x));

const subj = (s: string) => "/subjects/" + encodeURIComponent(s);

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schemaType?: string; // omitted for AVRO, as Confluent does
  references?: { name: string; subject: string; version: number }[];
  schema: string;
}

export const schemaTypes = ["AVRO", "JSON", "PROTOBUF"] as const;

export const typeOf = (v: SubjectVersion) => v.schemaType ?? "AVRO";

export const listSubjects = () => call<string[]>("GET", "/subjects");
export const listVersions = (s: string) => call<number[]>("GET", subj(s) + "/versions");
export const getVersion = (s: string, v: number | "latest") => call<SubjectVersion>("GET", `${subj(s)}/versions/${v}`);

// level is the subject's compatibility level and whether it is its own or
// the tenant's default.
export async function level(s: string): Promise<{ level: string; own: boolean }> {
  try {
    const c = await call<{ compatibilityLevel: string }>("GET", "/config/" + encodeURIComponent(s));
    return { level: c.compatibilityLevel, own: true };
  } catch (x) {
    if (!(x instanceof SchemaError && x.code === 40408)) throw x; // 40408: no level of its own
  }
  const c = await call<{ compatibilityLevel: string }>("GET", "/config");
  return { level: c.compatibilityLevel, own: false };
}

export interface NewSchema {
  schema: string;
  schemaType: string;
}

// checkCompatibility checks against the versions a registration would be
// checked against (all of them for a transitive level), with the reasons.
export const checkCompatibility = (s: string, n: NewSchema) =>
  call<{ is_compatible: boolean; messages?: string[] }>("POST", `/compatibility${subj(s)}/versions?verbose=true`, n);

export const register = (s: string, n: NewSchema) => call<{ id: number }>("POST", subj(s) + "/versions", n);

// pretty lays a JSON schema (Avro, JSON Schema) out one field a line, so a
// line diff shows what changed even when it was registered on one line.
export function pretty(v: SubjectVersion): string {
  if (typeOf(v) === "PROTOBUF") return v.schema;
  try {
    return JSON.stringify(JSON.parse(v.schema), null, 2);
  } catch {
    return v.schema;
  }
}
