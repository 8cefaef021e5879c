import type { Me } from "../account";
import type { Live } from "../live";
import type { Settings } from "../settings";

// Page is a mounted page: built once, updated on every snapshot.
export interface Page {
  el: HTMLElement;
  update(): void;
  destroy?(): void;
}

export interface Ctx {
  live: Live;
  // me is who is signed in (role, organization); null in a cell without
  // the account API, where everything is allowed.
  me: Me | null;
  settings: Settings;
  toast(msg: string, kind?: "ok" | "err"): void;
  confirm(msg: string, action: string): Promise<boolean>;
  go(hash: string): void;
  applySettings(s: Settings): void;
}

// metricSamples returns a family's samples, or null when the cell has not
// exported it (yet).
export function metricSamples(ctx: Ctx, name: string) {
  return ctx.live.snap?.metrics[name]?.samples ?? null;
}
