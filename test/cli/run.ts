// Run the built CLI (dist/cli/main.js; `npm test` builds first) and capture its output.
import { spawnSync } from "node:child_process";

export const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
export const FIXTURE = (name: string) => new URL(`../fixtures/openelm/${name}`, import.meta.url).pathname;

export function runCli(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf-8", env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
