// Settings kept in the browser (localStorage): refresh rate, lag
// thresholds and the theme.

export interface Settings {
  refreshMs: number;
  lagWarn: number;
  lagCrit: number;
  theme: "dark" | "light";
}

const key = "streamhouse.console.settings";
const defaults: Settings = { refreshMs: 2000, lagWarn: 1000, lagCrit: 10000, theme: "dark" };

export function loadSettings(): Settings {
  try {
    const raw = localStorage.getItem(key);
    if (raw) return { ...defaults, ...JSON.parse(raw) };
  } catch {
    // a corrupt entry: the defaults
  }
  return { ...defaults };
}

export function saveSettings(s: Settings) {
  localStorage.setItem(key, JSON.stringify(s));
  applyTheme(s);
}

export function applyTheme(s: Settings) {
  document.documentElement.dataset.theme = s.theme;
}

// lagClass colours a lag by the thresholds.
export function lagClass(s: Settings, lag: number): string {
  if (lag >= s.lagCrit) return "lag-crit";
  if (lag >= s.lagWarn) return "lag-warn";
  return "lag-ok";
}
