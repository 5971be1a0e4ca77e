// Parse a Mermaid diagram from stdin with the real mermaid library (in jsdom): exit 0 when it
// parses, 1 with mermaid's own error otherwise. NODE_PATH-free: run from the install directory.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = process.env.MERMAID_HOME;
const require = createRequire(path.join(root, "package.json"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!DOCTYPE html><body></body>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const key of ["DOMParser", "Element", "HTMLElement", "Node", "navigator"]) {
  if (!(key in globalThis)) globalThis[key] = dom.window[key];
}
const mermaid = (await import(require.resolve("mermaid"))).default;
mermaid.initialize({ startOnLoad: false });
const text = readFileSync(0, "utf8");
try {
  const result = await mermaid.parse(text);
  console.log(JSON.stringify({ ok: true, diagramType: result && result.diagramType }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.message ? err.message : err) }));
  process.exit(1);
}
