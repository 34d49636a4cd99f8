// A local stand-in for huggingface.co on 127.0.0.1, speaking the parts of the hub protocol that
// huggingface_hub's downloads use: the revision API, /resolve/ with ETag / X-Repo-Commit, LFS files
// redirected (302) to a "CDN" path with X-Linked-Etag = sha256, Range requests (206), and 401 for a
// gated repo without a token; dataset repositories under /api/datasets/ and /datasets/…/resolve/. Faults can be
// injected: cut the connection after N bytes, stall after N bytes, corrupt bytes.

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
  sha: string;
  files: Record<string, Uint8Array>;
  /** Files served the LFS way (302 to /cdn/<sha256>). */
  lfs: string[];
  /** Token required (401 without, 403 with another one). */
  gatedToken?: string;
  /** A dataset repository (default: a model). */
  type?: "model" | "dataset";
  /** Revision names besides "main" that resolve to sha (e.g. "refs/convert/parquet"). */
  revisions?: string[];
}

export interface LoggedRequest { method: string; url: string; range?: string; auth?: string }

export interface Faults {
  /** Next `times` GETs of `file` send only `bytes` body bytes, then the socket is destroyed. */
  cut?: { file: string; bytes: number; times: number };
  /** Next `times` GETs of `file` have one byte flipped. */
  corrupt?: { file: string; times: number };
  /** GETs of `file` send `bytes` body bytes, then hang (until the client goes away or the server closes). */
  stall?: { file: string; bytes: number };
}

export interface FakeHub {
  endpoint: string;
  requests: LoggedRequest[];
  faults: Faults;
  close(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const gitSha1 = (b: Uint8Array) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: LoggedRequest[] = [];
  const faults: Faults = {};
  const byHash = new Map<string, { repo: string; file: string; data: Uint8Array }>();
  for (const [repo, r] of Object.entries(repos)) {
    for (const f of r.lfs) byHash.set(sha256(r.files[f]), { repo, file: f, data: r.files[f] });
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push({ method: req.method ?? "", url: url.pathname, range: req.headers.range, auth: req.headers.authorization });
    const path = decodeURIComponent(url.pathname);

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const hit = byHash.get(cdn[1]);
      if (!hit) return send(res, 404, "no such blob");
      return serveBytes(req, res, hit.file, hit.data, { etag: `"${cdn[1]}"` });
    }

    const api = /^\/api\/(models|datasets)\/((?:[^/]+\/)?[^/]+)\/revision\/(.+)$/.exec(path);
    const resolve = /^\/(datasets\/)?((?:[^/]+\/)?[^/]+)\/resolve\/(.+?)\/([^/]+(?:\/[^/]+)*)$/.exec(path);
    const repoId = api?.[2] ?? resolve?.[2];
    const type = api ? (api[1] === "datasets" ? "dataset" : "model") : resolve?.[1] ? "dataset" : "model";
    const repo = repoId ? repos[repoId] : undefined;
    if (!repo || (repo.type ?? "model") !== type) return send(res, 401, JSON.stringify({ error: "Repository not found" })); // the hub hides existence
    if (repo.gatedToken !== undefined) {
      const auth = req.headers.authorization;
      if (!auth) return send(res, 401, JSON.stringify({ error: `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.` }));
      if (auth !== `Bearer ${repo.gatedToken}`) return send(res, 403, JSON.stringify({ error: "Access denied" }));
    }
    const rev = api?.[3] ?? resolve![3];
    if (rev !== "main" && rev !== repo.sha && !repo.revisions?.includes(rev)) return send(res, 404, JSON.stringify({ error: "Revision Not Found" }));

    if (api) {
      return send(res, 200, JSON.stringify({ id: repoId, sha: repo.sha, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) }), "application/json");
    }
    const file = resolve![4];
    const data = repo.files[file];
    if (!data) return send(res, 404, "Entry not found");
    const common = { "x-repo-commit": repo.sha };
    if (repo.lfs.includes(file)) {
      const h = sha256(data);
      res.writeHead(302, { ...common, location: `/cdn/${h}?X-Amz-Signature=fake`, "x-linked-etag": `"${h}"`, "x-linked-size": String(data.length), "content-length": "0" });
      return res.end();
    }
    return serveBytes(req, res, file, data, { ...common, etag: `"${gitSha1(data)}"` });
  };

  const serveBytes = (req: IncomingMessage, res: ServerResponse, file: string, data: Uint8Array, headers: Record<string, string>) => {
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { "content-range": `bytes */${data.length}` });
        return res.end();
      }
    }
    let body = Buffer.from(data.subarray(start));
    const status = range ? 206 : 200;
    const h: Record<string, string> = { ...headers, "content-length": String(body.length), "accept-ranges": "bytes" };
    if (range) h["content-range"] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(status, h);
    if (req.method === "HEAD") return res.end();
    if (faults.corrupt && faults.corrupt.file === file && faults.corrupt.times > 0) {
      faults.corrupt.times--;
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    if (faults.stall && faults.stall.file === file) {
      res.write(body.subarray(0, faults.stall.bytes));
      return;
    }
    if (faults.cut && faults.cut.file === file && faults.cut.times > 0) {
      faults.cut.times--;
      const n = faults.cut.bytes;
      res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body);
  };

  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    faults,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function send(res: ServerResponse, status: number, body: string, type = "application/json") {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
