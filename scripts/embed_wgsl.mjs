// Writes src/kernels/webgpu/wgsl.ts: every src/kernels/webgpu/*.wgsl as a string constant, so the backend
// loads its shaders without a file system or a bundler (Node, browsers, workers alike).
// Run by `npm run build`; test/kernels/webgpu_ops.test.ts fails when the committed file is stale.
import * as fs from "node:fs";

const dir = new URL("../src/kernels/webgpu/", import.meta.url);

export function renderWgslModule() {
  const names = fs.readdirSync(dir).filter((f) => f.endsWith(".wgsl")).sort();
  const lines = ["// Generated from src/kernels/webgpu/*.wgsl by scripts/embed_wgsl.mjs (npm run build); edit the .wgsl files.", "",
    "export const WGSL = {"];
  for (const f of names) lines.push(`  ${f.slice(0, -5)}: ${JSON.stringify(fs.readFileSync(new URL(f, dir), "utf-8"))},`);
  lines.push("} as const;", "");
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) fs.writeFileSync(new URL("wgsl.ts", dir), renderWgslModule());
