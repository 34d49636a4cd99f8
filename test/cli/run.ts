// Run the built CLI (dist/cli/main.js; `npm test` builds first) and capture its output.
// Asynchronously: a synchronous spawn blocks the test worker's event loop for the child's whole run, and on a
// loaded machine a few of them in a row outlast vitest's 60 s limit for answering the runner (see test/yield.ts).
import { spawn } from "node:child_process";

export const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
export const FIXTURE = (name: string) => new URL(`../fixtures/openelm/${name}`, import.meta.url).pathname;

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Run a command (node by default) to its end; `timeout` ms kills it (code null, as spawnSync reports it). */
export function runProcess(argv: string[], o: { input?: string; env?: Record<string, string>; cwd?: string; timeout?: number; command?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(o.command ?? process.execPath, argv, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.setEncoding("utf-8").on("data", (d: string) => (stdout += d));
    p.stderr.setEncoding("utf-8").on("data", (d: string) => (stderr += d));
    const timer = o.timeout ? setTimeout(() => p.kill("SIGTERM"), o.timeout) : undefined;
    p.on("error", reject);
    p.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    p.stdin.on("error", () => {}); // a child that exits without reading its input
    p.stdin.end(o.input ?? "");
  });
}

export function runCli(args: string[], input?: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runProcess([CLI, ...args], { input, env });
}
