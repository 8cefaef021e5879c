// The live feed: one WebSocket to /ws/console, reconnecting with back-off,
// and the history the charts draw (kept in the page, bounded). Browsers
// cannot set headers on a WebSocket, so the access token goes in the URL
// (?access_token=); the server checks it again every few seconds and closes
// the feed with 1008 once it is refused.

export interface Partition {
  partition: number;
  epoch: number;
  high_watermark: number;
  log_start_offset: number;
  owner?: string;
  live_high_watermark?: number;
  size_bytes?: number;
  segments?: number;
}

export interface TopicStat {
  name: string;
  partitions: number;
  durability: string;
  retention_ms: number;
  retention_bytes: number;
  cleanup_policy: string;
  partition_info: Partition[];
  records: number;
  size_bytes: number;
  records_per_sec: number;
}

export interface GroupOffset {
  topic: string;
  partition: number;
  committed: number;
  high_watermark: number;
  log_start_offset: number;
  lag: number;
  member?: string;
}

export interface GroupStat {
  group: string;
  state: string;
  generation: number;
  strategy?: string;
  members: { id: string; client_id: string; session_timeout_ms: number; assignment: { topic: string; partition: number }[] }[];
  offsets: GroupOffset[];
  lag: number;
}

export interface Agent {
  id: string;
  live: boolean;
  partitions: { topic: string; partition: number }[];
}

export interface Sample {
  labels?: Record<string, string>;
  value: number;
  count?: number;
  sum?: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

export interface Family {
  type: string;
  samples: Sample[];
}

export interface Snapshot {
  type: "snapshot";
  time_ms: number;
  topics: TopicStat[];
  topics_truncated?: boolean;
  groups: GroupStat[];
  groups_truncated?: boolean;
  agents: Agent[];
  health: Record<string, string>;
  errors?: Record<string, string>;
  metrics: Record<string, Family>;
  metrics_truncated?: boolean;
}

export type ConnState = "connecting" | "open" | "closed";

// Series is a bounded history of named values over time.
export class Series {
  times: number[] = [];
  values = new Map<string, number[]>();
  constructor(private max = 300) {}

  push(t: number, vals: Record<string, number>) {
    this.times.push(t);
    const n = this.times.length;
    for (const [k, v] of Object.entries(vals)) {
      let arr = this.values.get(k);
      if (!arr) {
        arr = new Array(n - 1).fill(null);
        this.values.set(k, arr);
      }
      arr.push(v);
    }
    for (const [k, arr] of this.values) {
      if (arr.length < n) arr.push(null as unknown as number);
      if (!(k in vals) && arr.every((x) => x === null)) this.values.delete(k);
    }
    if (n > this.max) {
      this.times.shift();
      for (const arr of this.values.values()) arr.shift();
    }
  }
}

// counterRate turns a counter's samples into per-second rates between two
// snapshots, keyed by labelKey(labels).
export function counterRates(prev: Snapshot | null, cur: Snapshot, name: string, labelKey: (l: Record<string, string>) => string): Map<string, number> {
  const out = new Map<string, number>();
  const now = cur.metrics[name];
  if (!now) return out;
  const before = new Map<string, number>();
  for (const s of prev?.metrics[name]?.samples ?? []) before.set(labelKey(s.labels ?? {}), s.value);
  const dt = prev ? (cur.time_ms - prev.time_ms) / 1000 : 0;
  for (const s of now.samples) {
    const k = labelKey(s.labels ?? {});
    const b = before.get(k);
    out.set(k, (out.get(k) ?? 0) + (b !== undefined && dt > 0 && s.value >= b ? (s.value - b) / dt : 0));
  }
  return out;
}

export class Live {
  state: ConnState = "connecting";
  snap: Snapshot | null = null;
  prev: Snapshot | null = null;
  throughput = new Series();
  lag = new Series();
  produceRate = new Series();
  private ws: WebSocket | null = null;
  private backoff = 500;
  private listeners = new Set<() => void>();
  private refreshMs: number;
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | undefined;

  // token gives the access token for each (re)connection; beforeRetry runs
  // before reconnecting after a failure (it renews the session, or ends it
  // and then close() stops the feed).
  constructor(refreshMs: number, private token: () => string | null = () => null,
    private beforeRetry: () => Promise<void> = async () => {}) {
    this.refreshMs = refreshMs;
    this.connect();
  }

  // close ends the feed for good (a logout).
  close() {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.listeners.clear();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  setRefresh(ms: number) {
    this.refreshMs = ms;
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ refresh_ms: ms }));
  }

  private emit() {
    for (const fn of this.listeners) fn();
  }

  private connect() {
    if (this.closed) return;
    const t = this.token();
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/console" +
      (t ? "?access_token=" + encodeURIComponent(t) : "");
    this.state = "connecting";
    this.emit();
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.state = "open";
      this.backoff = 500;
      ws.send(JSON.stringify({ refresh_ms: this.refreshMs }));
      this.emit();
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "snapshot") this.take(msg as Snapshot);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.state = "closed";
      this.emit();
      // Back off exponentially, with jitter, up to 15 s.
      const wait = this.backoff * (0.75 + Math.random() / 2);
      this.backoff = Math.min(this.backoff * 2, 15000);
      this.retry = setTimeout(() => void this.beforeRetry().catch(() => {}).then(() => this.connect()), wait);
    };
  }

  private take(s: Snapshot) {
    this.prev = this.snap;
    this.snap = s;
    const t = s.time_ms / 1000;
    const tp: Record<string, number> = { total: 0 };
    for (const topic of s.topics) {
      tp[topic.name] = topic.records_per_sec;
      tp.total += topic.records_per_sec;
    }
    this.throughput.push(t, tp);
    const lag: Record<string, number> = {};
    for (const g of s.groups) lag[g.group] = g.lag;
    this.lag.push(t, lag);
    const pr: Record<string, number> = {};
    for (const [k, v] of counterRates(this.prev, s, "streamhouse_produce_records_total", (l) => l.topic ?? "")) pr[k] = v;
    this.produceRate.push(t, pr);
    this.emit();
  }
}
