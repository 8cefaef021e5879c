// The signed-in session: the access and refresh tokens kept in
// sessionStorage (gone with the tab, never shared with other tabs or sent
// without asking), the Authorization header every API call carries, and
// the access token's renewal before it expires (and once on a 401).

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_at: number; // ms since the epoch
}

// AuthAnswer is what signup, login and refresh return.
export interface AuthAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number; // seconds
  token_type: string;
  role: string;
  user: { id: number; email: string };
  organization: { id: number; name: string };
}

const key = "streamhouse.console.session";

// renewAhead is how long before expiry the access token is renewed: a
// tenth of its life, at least 10 s and at most 2 min.
function renewAhead(lifeMs: number): number {
  return Math.min(Math.max(lifeMs / 10, 10_000), 120_000);
}

let tokens: Tokens | null = load();
let timer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const endListeners = new Set<() => void>();

function load(): Tokens | null {
  try {
    const raw = sessionStorage.getItem(key);
    const t = raw ? (JSON.parse(raw) as Tokens) : null;
    return t && typeof t.access_token === "string" && typeof t.refresh_token === "string" ? t : null;
  } catch {
    return null; // a corrupt entry: signed out
  }
}

export function accessToken(): string | null {
  return tokens?.access_token ?? null;
}

export function signedIn(): boolean {
  return tokens !== null;
}

// onSessionEnd calls fn when the session ends without a logout: its
// refresh token was refused (expired, revoked, the member removed).
export function onSessionEnd(fn: () => void) {
  endListeners.add(fn);
}

// start keeps a session from a signup, login or refresh answer.
export function start(a: AuthAnswer) {
  tokens = { access_token: a.access_token, refresh_token: a.refresh_token, expires_at: Date.now() + a.expires_in * 1000 };
  sessionStorage.setItem(key, JSON.stringify(tokens));
  schedule();
}

// clear forgets the session (after a logout, or when it ended).
export function clear() {
  tokens = null;
  sessionStorage.removeItem(key);
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
}

// schedule renews the access token ahead of its expiry.
export function schedule() {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  if (!tokens) return;
  const left = tokens.expires_at - Date.now();
  const life = Math.max(left, 0);
  timer = setTimeout(() => void refresh(), Math.max(left - renewAhead(life), 0));
}

// refresh trades the refresh token for new tokens (the server rotates both);
// calls made meanwhile share one exchange. False: the session is over.
export function refresh(): Promise<boolean> {
  if (!tokens) return Promise.resolve(false);
  if (refreshing) return refreshing;
  const rt = tokens.refresh_token;
  refreshing = (async () => {
    try {
      const resp = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: rt }),
      });
      if (resp.ok) {
        start((await resp.json()) as AuthAnswer);
        return true;
      }
      if (resp.status === 401 || resp.status === 400) {
        clear();
        for (const fn of endListeners) fn();
        return false;
      }
      schedule(); // the server is unwell: try again later with the same token
      return tokens !== null;
    } catch {
      if (timer === undefined && tokens) timer = setTimeout(() => void refresh(), 5000);
      return tokens !== null;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// authFetch is fetch with the access token; a 401 renews the token once
// and retries.
export async function authFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const send = () => {
    const headers = new Headers(init.headers);
    const t = accessToken();
    if (t) headers.set("Authorization", "Bearer " + t);
    return fetch(url, { ...init, headers });
  };
  const resp = await send();
  if (resp.status !== 401 || !tokens) return resp;
  return (await refresh()) ? send() : resp;
}
