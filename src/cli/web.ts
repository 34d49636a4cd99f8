// openelm web: serve the built web app (dist/web, made by `npm run build`) over HTTP with the headers that
// make the page cross-origin isolated (COOP/COEP), without which browsers give it no SharedArrayBuffer
// and so no kernel threads. Any static host works the same with these headers (README "In the browser").

import type { Command } from "commander";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import { BUNDLED_TOKENIZER_MODEL } from "../io/gguf_vocab.js";
import { defaultInstructAdapterDir, defaultModelDir } from "../models/registry.js";
import { intArg } from "./args.js";

/** The headers every response of the app carries. */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
} as const;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json", ".wasm": "application/wasm", ".svg": "image/svg+xml", ".png": "image/png",
};

/** dist/web: beside dist/cli, or from src/cli (tests) in dist/. */
export function webAppDir(): string {
  const here = fileURLToPath(new URL("../web/", import.meta.url));
  return fs.existsSync(here) ? here : fileURLToPath(new URL("../../dist/web/", import.meta.url));
}

/**
 * Files the build copies into dist/web that the npm package ships only once, under assets/: the embedded
 * default model (`models/default-<hash>/…`), its default-instruct adapter (`models/default-instruct-<hash>/…`)
 * and the tokenizer. Served from there when dist/web lacks them.
 */
export function packagedAsset(rel: string): string | undefined {
  const m = /^\/models\/default-[0-9a-f]+\/([\w.-]+)$/.exec(rel);
  if (m && m[1] !== "..") return path.join(defaultModelDir(), m[1]);
  const i = /^\/models\/default-instruct-[0-9a-f]+\/([\w.-]+)$/.exec(rel);
  if (i && i[1] !== "..") return path.join(defaultInstructAdapterDir(), i[1]);
  if (rel === "/tokenizer.model") return BUNDLED_TOKENIZER_MODEL;
  return undefined;
}

/** A static server for dir with the isolation headers; "/" is index.html; revalidation through ETags. */
export function createWebServer(dir: string): http.Server {
  const root = path.resolve(dir);
  return http.createServer((req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...ISOLATION_HEADERS });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "only GET and HEAD");
    let rel: string;
    try { rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname); } catch { return send(400, "bad URL"); }
    const inApp = path.join(root, rel.endsWith("/") ? rel + "index.html" : rel);
    if (!inApp.startsWith(root + path.sep)) return send(404, "not found");
    let st: fs.Stats;
    let file = inApp;
    try { st = fs.statSync(file); } catch {
      const asset = packagedAsset(rel);
      try { if (!asset) throw new Error(); file = asset; st = fs.statSync(file); } catch { return send(404, "not found"); }
    }
    if (!st.isFile()) return send(404, "not found");
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = { ...ISOLATION_HEADERS, "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Cache-Control": "no-cache", ETag: etag };
    if (req.headers["if-none-match"] === etag) { res.writeHead(304, headers); res.end(); return; }
    res.writeHead(200, { ...headers, "Content-Length": st.size });
    if (req.method === "HEAD") { res.end(); return; }
    fs.createReadStream(file).pipe(res);
  });
}

export function register(program: Command): void {
  program.command("web")
    .description("serve the in-browser app (dist/web) with the COOP/COEP headers it needs for threads")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 = any free port)", intArg(0), 8081)
    .action(async (o: { host: string; port: number }) => {
      const dir = webAppDir();
      if (!fs.existsSync(path.join(dir, "index.html"))) throw new InputError(`${dir}: no built web app (run npm run build)`);
      const srv = createWebServer(dir);
      await new Promise<void>((resolve, reject) => { srv.once("error", reject); srv.listen(o.port, o.host, resolve); });
      const a = srv.address() as { port: number };
      process.stdout.write(`openelm web: serving ${dir} at http://${o.host.includes(":") ? `[${o.host}]` : o.host}:${a.port}/\n`);
      const stop = () => { srv.close(); srv.closeAllConnections(); };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await new Promise<void>((resolve) => srv.once("close", resolve));
    });
}
