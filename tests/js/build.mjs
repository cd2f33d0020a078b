// Builds livetag/client/livetag.js, the one file the browser loads, from the ES modules in
// livetag/client/src/: bundled into one classic script, minified, with a source map for
// the browser's developer tools. `node build.mjs --check` only says whether the committed
// files are what the sources build to (tests/js/test_bundle.py runs it in CI).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const client = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "livetag", "client");
const outfile = join(client, "livetag.js");

const result = await build({
  entryPoints: [join(client, "src", "livetag.js")],
  outfile,
  bundle: true,
  format: "iife", // a classic script: no module graph to fetch, one request
  target: "es2020", // what the sources are written in: nothing gets rewritten
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  banner: { js: '"use strict";' }, // as the modules are: bundled, they would lose it
  write: false,
  logLevel: "warning",
});

const stale = [];
for (const file of result.outputFiles) {
  let old = null;
  try { old = readFileSync(file.path, "utf8"); } catch { /* not built yet */ }
  if (old === file.text) continue;
  stale.push(file.path);
  if (!process.argv.includes("--check")) writeFileSync(file.path, file.text);
}
if (process.argv.includes("--check") && stale.length) {
  console.error(`stale: ${stale.join(", ")}\nrebuild with: scripts/build-client`);
  process.exit(1);
}
for (const path of process.argv.includes("--check") ? [] : stale) console.log("wrote", path);
