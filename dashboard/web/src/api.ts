// The HTTP API calls the console's actions make (/api/v1), each with the
// session's access token (session.ts).
import { authFetch } from "./session";

export class APIError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

export const errText = (x: unknown) => (x instanceof APIError ? `${x.code}: ${x.message}` : String(x));

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await authFetch("/api/v1" + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return undefined as T;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data?.error ?? {};
    throw new APIError(resp.status, e.code ?? "error", e.message ?? resp.statusText);
  }
  return data as T;
}

export interface CreateTopic {
  name: string;
  partitions: number;
  durability?: string;
  retention_ms?: number;
  cleanup_policy?: string;
}

export const createTopic = (t: CreateTopic) => call("POST", "/topics", t);
export const deleteTopic = (name: string) => call("DELETE", "/topics/" + encodeURIComponent(name));

export interface ResetGroup {
  topic?: string;
  to: "earliest" | "latest" | "offset" | "timestamp";
  offset?: number;
  timestamp_ms?: number;
}

export const resetGroup = (group: string, r: ResetGroup) =>
  call<{ offsets: { topic: string; partition: number; offset: number }[] }>("POST", "/groups/" + encodeURIComponent(group) + "/reset", r);

export interface RecordJSON {
  partition: number;
  offset: number;
  timestamp_ms: number;
  key?: string | null;
  key_b64?: string;
  value?: string | null;
  value_b64?: string;
  headers?: Record<string, string | null>;
  headers_b64?: Record<string, string | null>;
}

export interface RecordsPage {
  topic: string;
  partition: number;
  high_watermark: number;
  log_start_offset: number;
  next_offset: number;
  records: RecordJSON[];
}

export function readRecords(topic: string, partition: number, q: { offset?: string; timestamp?: number; limit: number }): Promise<RecordsPage> {
  const p = new URLSearchParams({ limit: String(q.limit) });
  if (q.timestamp !== undefined) p.set("timestamp", String(q.timestamp));
  else if (q.offset) p.set("offset", q.offset);
  return call("GET", `/topics/${encodeURIComponent(topic)}/partitions/${partition}/records?${p}`);
}

// Topic names follow the registry's rule (registry.ValidateName).
export function topicNameProblem(name: string): string | null {
  if (name === "") return "a name is required";
  if (name.length > 249) return "at most 249 characters";
  if (name === "." || name === "..") return '"." and ".." are reserved';
  const bad = name.match(/[^a-zA-Z0-9._-]/);
  if (bad) return `"${bad[0]}" is not allowed: only a-z A-Z 0-9 . _ -`;
  return null;
}

export const maxPartitions = 10000;
