// Copies the browser builds of our npm dependencies into static/vendor/.
// The output depends only on package-lock.json: same lock, same bytes (no timestamps).
// Usage: npm ci && npm run build:vendor
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const modules = join(root, "node_modules");
const vendor = join(root, "static", "vendor");

// package -> [source path inside the package, destination path inside static/vendor/]
const FILES = {
  katex: [
    ["dist/katex.mjs", "katex/katex.mjs"],
    ["LICENSE", "katex/LICENSE"],
  ],
  "markdown-it": [
    ["dist/browser/markdown-it.esm.min.mjs", "markdown-it/markdown-it.esm.min.mjs"],
    // Kept because the .mjs names it; Django's manifest storage fails on a missing source map.
    ["dist/browser/markdown-it.esm.min.mjs.map", "markdown-it/markdown-it.esm.min.mjs.map"],
    ["LICENSE", "markdown-it/LICENSE"],
  ],
  dompurify: [
    ["dist/purify.es.mjs", "dompurify/purify.es.mjs"],
    ["dist/purify.es.mjs.map", "dompurify/purify.es.mjs.map"],
    ["LICENSE", "dompurify/LICENSE"],
  ],
  "htmx.org": [
    ["dist/htmx.min.js", "htmx/htmx.min.js"],
    ["LICENSE", "htmx/LICENSE"],
  ],
};

function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

rmSync(vendor, { recursive: true, force: true });
const manifest = {};
for (const [pkg, files] of Object.entries(FILES)) {
  const pkgDir = join(modules, pkg);
  const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const copied = {};
  for (const [source, destination] of files) {
    const target = join(vendor, destination);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(pkgDir, source), target);
    copied[destination] = sha256(target);
  }
  manifest[pkg] = { version, files: copied };
}
writeFileSync(join(vendor, "MANIFEST.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`static/vendor: ${Object.keys(manifest).map((p) => `${p}@${manifest[p].version}`).join(", ")}`);
