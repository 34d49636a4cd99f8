// Real Chromium for the web app's tests: the Debian package (apt-get install -y chromium libvulkan1), driven
// through playwright-core (no browser download), and `openelm web` serving the built app.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Chromium's own CPU WebGPU (SwiftShader): machines without a GPU still get an adapter. */
export const SWIFTSHADER_WEBGPU = ["--enable-unsafe-swiftshader", "--enable-unsafe-webgpu", "--use-angle=swiftshader", "--use-webgpu-adapter=swiftshader"];

/**
 * Chromium with an empty profile (a playwright BrowserContext); close() also removes the profile.
 * gpuArgs: instead of --disable-gpu (e.g. SWIFTSHADER_WEBGPU).
 */
export async function launchChromium(gpuArgs = ["--disable-gpu"]) {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM}: no Chromium; the web tests need it (Debian: apt-get install -y chromium libvulkan1; or set CHROMIUM_PATH)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ["--headless", "--no-sandbox", ...gpuArgs, "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const close = ctx.close.bind(ctx);
  ctx.close = async (...a) => {
    await close(...a);
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); // Chromium's last writes race its exit
  };
  return ctx;
}

/** `openelm web --port 0` from dist (built by npm run build); resolves with { url, proc, stop() }. */
export async function startWebServer() {
  const main = path.resolve("dist/cli/main.js");
  const proc = spawn(process.execPath, [main, "web", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on("data", (d) => { const m = /(http:\/\/\S+)/.exec(String(d)); if (m) resolve(m[1]); });
    proc.once("exit", (code) => reject(new Error(`openelm web exited (${code}): ${err}`)));
  });
  const stop = () => new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
  });
  return { url, proc, stop };
}
