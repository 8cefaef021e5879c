// Builds src/ into ../dist (embedded by dashboard/console.go). The output
// must be byte-for-byte the same on every machine: CI rebuilds it and fails
// when the committed copy differs, so no timestamps, hashes of paths or
// source maps go in.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

// CONSOLE_OUT builds elsewhere: `just web-check` builds into a temporary
// folder and compares it with the committed one.
const out = (process.env.CONSOLE_OUT || new URL("../dist", import.meta.url).pathname) + "/";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.ts", "src/style.css"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: out,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
copyFileSync("src/index.html", out + "index.html");
