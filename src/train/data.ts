// Training data: `openelm data prepare` (text/jsonl files -> uint16 token shards + index.json) and the
// deterministic packed-sequence sampler the trainer reads them with (llm.c dataloader.h: shards of
// uint16 tokens behind a header; here the header is index.json, with each shard's size and SHA-256).
//
// Documents: a .txt file splits at blank lines (one document per blank-line-separated block; a file
// without blank lines is one document); a .jsonl file has one {"text": ...} object per line. Each
// document is tokenized whole as BOS + ids + EOS, so the model learns where documents start and end.
// Validation: the documents with floor((i+1)·F) > floor(i·F) (evenly spaced), or, with too few
// documents for that, the last F of every document's tokens; or explicit --val-input files.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DataError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { Rng } from "../tensor/rng.js";

export const DATA_FORMAT = "openelm-tokens/1";
/** Tokens per shard file (32 MiB of uint16). */
export const SHARD_TOKENS = 16 * 1024 * 1024;

export interface ShardInfo { file: string; tokens: number; sha256: string }

export interface DataIndex {
  format: string;
  dtype: "uint16";
  tokenizer: { source: string; vocab_size: number; bos_id: number; eos_id: number };
  documents: { train: number; val: number };
  tokens: { train: number; val: number };
  shards: { train: ShardInfo[]; val: ShardInfo[] };
  inputs: string[];
}

/** What data prepare needs from a tokenizer (src/tokenizer/sentencepiece.ts Tokenizer). */
export interface DocumentEncoder {
  vocabSize: number; bosId: number; eosId: number; source: string;
  encode(text: string, opts?: { bos?: boolean }): number[];
}

// ---------------------------------------------------------------- inputs

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) re += ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${re}$`);
}

/** Expand file names and globs (`*`, `?` in the last path component; `dir/**` for every file below dir). */
export function expandInputs(patterns: string[]): string[] {
  const files: string[] = [];
  for (const p of patterns) {
    if (p.endsWith("/**") || p.endsWith("/**/*")) {
      const root = p.slice(0, p.indexOf("/**"));
      if (!fs.existsSync(root)) throw new DataError(`--input "${p}": no such directory ${root}`);
      const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
          const f = path.join(d, e.name);
          if (e.isDirectory()) walk(f); else if (/\.(txt|jsonl)$/.test(e.name)) files.push(f);
        }
      };
      walk(root);
      continue;
    }
    const base = path.basename(p), dir = path.dirname(p);
    if (!/[*?]/.test(base)) {
      if (!fs.existsSync(p)) throw new DataError(`--input "${p}": no such file`);
      if (fs.statSync(p).isDirectory()) throw new DataError(`--input "${p}": is a directory (use "${p}/*.txt" or "${p}/**")`);
      files.push(p);
      continue;
    }
    if (/[*?]/.test(dir)) throw new DataError(`--input "${p}": wildcards are supported in the file name only (or dir/**)`);
    const re = globToRegExp(base);
    const hits = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f)) : [];
    if (hits.length === 0) throw new DataError(`--input "${p}": no files match`);
    files.push(...hits);
  }
  return files;
}

/** The documents of one .txt or .jsonl file. */
export function readDocuments(file: string): string[] {
  const text = fs.readFileSync(file, "utf-8").replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  if (file.endsWith(".jsonl")) {
    const docs: string[] = [];
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      let o: unknown;
      try { o = JSON.parse(line); } catch { throw new DataError(`${file}:${i + 1}: not JSON (expected {"text": "..."} per line)`); }
      const t = (o as { text?: unknown } | null)?.text;
      if (typeof t !== "string") throw new DataError(`${file}:${i + 1}: expected an object with a string field "text"`);
      if (t.trim() !== "") docs.push(t);
    });
    return docs;
  }
  if (!file.endsWith(".txt")) throw new DataError(`${file}: unsupported input type (expected .txt or .jsonl)`);
  return text.split(/\n[ \t]*\n/).map((d) => d.replace(/^\n+|\n+$/g, "")).filter((d) => d.trim() !== "");
}

// ---------------------------------------------------------------- prepare

export interface PrepareOptions {
  inputs: string[];
  out: string;
  encoder: DocumentEncoder;
  valFraction?: number;
  valInputs?: string[];
  /** Encode documents (possibly in parallel); default: one at a time with encoder. */
  encodeAll?: (docs: string[], onDone: (n: number) => void) => Promise<number[][]>;
  onProgress?: (done: number, total: number) => void;
}

function writeShards(out: string, split: string, docs: number[][]): ShardInfo[] {
  const shards: ShardInfo[] = [];
  let buf = new Uint16Array(SHARD_TOKENS), fill = 0;
  const flush = () => {
    if (fill === 0) return;
    const file = `${split}-${String(shards.length).padStart(5, "0")}.bin`;
    const bytes = new Uint8Array(buf.buffer, 0, fill * 2);
    writeFileAtomic(path.join(out, file), bytes);
    shards.push({ file, tokens: fill, sha256: createHash("sha256").update(bytes).digest("hex") });
    buf = new Uint16Array(SHARD_TOKENS);
    fill = 0;
  };
  for (const d of docs) {
    let i = 0;
    while (i < d.length) {
      const n = Math.min(d.length - i, SHARD_TOKENS - fill);
      buf.set(d.slice(i, i + n), fill);
      fill += n; i += n;
      if (fill === SHARD_TOKENS) flush();
    }
  }
  flush();
  return shards;
}

/** Tokenize the inputs and write DIR/{train,val}-NNNNN.bin + DIR/index.json (written last). */
export async function prepareData(o: PrepareOptions): Promise<DataIndex> {
  const enc = o.encoder;
  if (enc.vocabSize > 65536) throw new DataError(`tokenizer ${enc.source}: vocabulary of ${enc.vocabSize} does not fit uint16 shards`);
  const files = expandInputs(o.inputs);
  const valFiles = o.valInputs ? expandInputs(o.valInputs) : [];
  const docs = files.flatMap(readDocuments);
  const valDocsText = valFiles.flatMap(readDocuments);
  if (docs.length === 0) throw new DataError(`--input ${o.inputs.join(" ")}: no text found (${files.length} file${files.length === 1 ? "" : "s"}, 0 documents)`);
  if (valFiles.length && valDocsText.length === 0) throw new DataError(`--val-input ${o.valInputs!.join(" ")}: no text found`);
  const F = o.valFraction ?? 0;
  if (!(F >= 0 && F < 1)) throw new DataError(`--val-fraction: expected a number in [0, 1), got ${F}`);
  const all = [...docs, ...valDocsText];
  const total = all.length;
  let done = 0;
  const encodeAll = o.encodeAll ?? (async (ds: string[], onDone: (n: number) => void) => ds.map((d) => { const r = enc.encode(d, { bos: true }); onDone(1); return r; }));
  const ids = await encodeAll(all, (n) => { done += n; o.onProgress?.(done, total); });
  const withEos = ids.map((d) => { d.push(enc.eosId); return d; });
  let train = withEos.slice(0, docs.length), val = withEos.slice(docs.length);
  if (!valFiles.length && F > 0) {
    const n = train.length;
    if (Math.floor(n * F) >= 1) {
      const isVal = (i: number) => Math.floor((i + 1) * F) > Math.floor(i * F);
      val = train.filter((_, i) => isVal(i));
      train = train.filter((_, i) => !isVal(i));
    } else { // too few documents: the tail F of each one
      val = [];
      train = train.map((d) => {
        const cut = d.length - Math.max(1, Math.floor(d.length * F));
        val.push(d.slice(cut));
        return d.slice(0, cut);
      });
    }
  }
  fs.mkdirSync(o.out, { recursive: true });
  const old = path.join(o.out, "index.json");
  if (fs.existsSync(old)) fs.rmSync(old); // the old shards are about to change under it
  const count = (ds: number[][]) => ds.reduce((s, d) => s + d.length, 0);
  const index: DataIndex = {
    format: DATA_FORMAT, dtype: "uint16",
    tokenizer: { source: path.basename(enc.source), vocab_size: enc.vocabSize, bos_id: enc.bosId, eos_id: enc.eosId },
    documents: { train: train.length, val: val.length },
    tokens: { train: count(train), val: count(val) },
    shards: { train: writeShards(o.out, "train", train), val: writeShards(o.out, "val", val) },
    inputs: [...files, ...valFiles],
  };
  writeFileAtomic(old, JSON.stringify(index, null, 2) + "\n");
  return index;
}

// ---------------------------------------------------------------- reading

export interface TokenData {
  dir: string;
  index: DataIndex;
  train: Uint16Array;
  val: Uint16Array;
}

function readShards(dir: string, shards: ShardInfo[], vocabSize: number): Uint16Array {
  const total = shards.reduce((s, x) => s + x.tokens, 0);
  const out = new Uint16Array(total);
  let at = 0;
  for (const s of shards) {
    const f = path.join(dir, s.file);
    if (!fs.existsSync(f)) throw new DataError(`${f}: shard listed in index.json is missing`);
    const bytes = fs.readFileSync(f);
    if (bytes.byteLength !== s.tokens * 2)
      throw new DataError(`${f}: corrupt shard: ${bytes.byteLength} bytes, index.json says ${s.tokens} tokens (${s.tokens * 2} bytes)`);
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (sha !== s.sha256) throw new DataError(`${f}: corrupt shard: SHA-256 ${sha.slice(0, 12)}… does not match index.json (${s.sha256.slice(0, 12)}…)`);
    const toks = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    for (let i = 0; i < toks.length; i++)
      if (toks[i] >= vocabSize) throw new DataError(`${f}: token ${toks[i]} at ${i} is outside the vocabulary (${vocabSize})`);
    out.set(toks, at);
    at += toks.length;
  }
  return out;
}

/** Open a prepared data directory, verifying every shard's size and SHA-256. */
export function openTokenData(dir: string): TokenData {
  const file = path.join(dir, "index.json");
  if (!fs.existsSync(file)) throw new DataError(`${dir}: no index.json (prepare it with: openelm data prepare --input FILES --out ${dir})`);
  let index: DataIndex;
  try { index = JSON.parse(fs.readFileSync(file, "utf-8")); } catch (e) { throw new DataError(`${file}: not JSON (${(e as Error).message})`); }
  if (index?.format !== DATA_FORMAT) throw new DataError(`${file}: field "format" is ${JSON.stringify(index?.format)}, expected "${DATA_FORMAT}"`);
  const V = index.tokenizer.vocab_size;
  const data = { dir, index, train: readShards(dir, index.shards.train, V), val: readShards(dir, index.shards.val, V) };
  if (data.train.length < 2) throw new DataError(`${dir}: the training split has ${data.train.length} tokens; nothing to train on`);
  return data;
}

// ---------------------------------------------------------------- sampling

/**
 * Packed sequences of T + 1 tokens (inputs = first T, targets = last T) from one token stream, split into
 * windows that start every T tokens. Each epoch visits every window once, in an order shuffled by
 * Rng(seed + epoch); the only state is the number of sequences drawn, so a resumed run continues
 * exactly where the interrupted one stopped.
 */
export class PackedSampler {
  readonly windows: number;
  private order: Uint32Array | null = null;
  private orderEpoch = -1;

  constructor(readonly tokens: Uint16Array, readonly T: number, readonly seed: number, public position = 0) {
    this.windows = Math.floor((tokens.length - 1) / T);
    if (this.windows < 1) throw new DataError(`the data has ${tokens.length} tokens, fewer than one sequence of ${T + 1}`);
  }

  private permutation(epoch: number): Uint32Array {
    if (this.orderEpoch !== epoch) {
      const p = new Uint32Array(this.windows);
      for (let i = 0; i < p.length; i++) p[i] = i;
      const rng = new Rng((this.seed + epoch * 0x9e3779b1) >>> 0);
      for (let i = p.length - 1; i > 0; i--) { const j = rng.int(i + 1); const t = p[i]; p[i] = p[j]; p[j] = t; }
      this.order = p;
      this.orderEpoch = epoch;
    }
    return this.order!;
  }

  /** The next B sequences: ids and targets (B·T each). */
  next(B: number, ids: Int32Array, targets: Int32Array): void {
    const T = this.T;
    for (let b = 0; b < B; b++) {
      const epoch = Math.floor(this.position / this.windows);
      const w = this.permutation(epoch)[this.position % this.windows];
      this.position++;
      const s = w * T;
      for (let t = 0; t < T; t++) { ids[b * T + t] = this.tokens[s + t]; targets[b * T + t] = this.tokens[s + t + 1]; }
    }
  }

  /** Epochs completed (fractional). */
  epochs(): number { return this.position / this.windows; }
}

/** The fixed validation sequences: consecutive windows from the start of the validation stream. */
export function validationBatches(tokens: Uint16Array, T: number, B: number, maxBatches: number): Array<{ ids: Int32Array; targets: Int32Array }> {
  const windows = Math.floor((tokens.length - 1) / T);
  const out: Array<{ ids: Int32Array; targets: Int32Array }> = [];
  for (let k = 0; k + B <= windows && out.length < maxBatches; k += B) {
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = (k + b) * T;
      for (let t = 0; t < T; t++) { ids[b * T + t] = tokens[s + t]; targets[b * T + t] = tokens[s + t + 1]; }
    }
    out.push({ ids, targets });
  }
  return out;
}
