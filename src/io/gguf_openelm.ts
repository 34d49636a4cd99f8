// OpenELM in GGUF, as llama.cpp's convert_hf_to_gguf.py (OpenELMModel) and llama-quantize write it:
// metadata keys <-> config.json, GGUF tensor names <-> HF names, tokenizer embedded.
// References: llama.cpp convert_hf_to_gguf.py (OpenELMModel), src/llama-arch.cpp (LLM_ARCH_OPENELM names),
// test fixtures/gguf/README.md (what llama.cpp b4747 writes for tiny-32k).
//
// Shapes: GGUF `ne` lists dimensions innermost first, so HF [out, in] is ne = [in, out]; the bytes are the
// same row-major rows either way. The one structural change is the FFN input projection: HF proj_1 holds
// [gate; up] (2F rows), GGUF splits it into ffn_gate (first F rows) and ffn_up (last F rows).

import { basename } from "node:path";
import { CheckpointError } from "../errors.js";
import { bytesFor, isQuantized, numel, toFloat32, type DType, type StoredTensor } from "../tensor/tensor.js";
import { dequantizeRow, q4_1ToQ5_1 } from "../kernels/quant.js";
import { q3kToQ6k } from "../kernels/kquant.js";
import { layerSizes, parameterCount, parseConfig, RMS_EPS, type OpenELMConfig } from "../models/config.js";
import {
  GgmlType, GgufType, ggufGet, openGgufSource, writeGgufFile,
  type GgufArray, type GgufHeader, type GgufKV, type GgufReader, type GgufTensorInfo, type GgufTensorOut, type GgufValue,
} from "./gguf.js";
import { type GgufVocab } from "./gguf_vocab.js";
import type { ByteSource } from "./byte_source.js";
import { fileSource } from "./file_source.js";

const ARCH = "openelm";

/** What an OpenELM GGUF holds, with tensors under their HF names in their stored dtype. */
export interface GgufCheckpoint {
  file: string;
  config: OpenELMConfig;
  /** HF names (transformer.layers.N.ffn.proj_1.weight ...) in their stored type (block-quantized ones stay quantized). */
  tensors: Map<string, StoredTensor>;
  vocab?: GgufVocab;
  /** general.file_type (0 all F32, 1 mostly F16, 2 mostly Q4_0, 7 mostly Q8_0, 32 mostly BF16). */
  fileType?: number;
  metadata: GgufKV[];
}

/** general.file_type values (llama_ftype) for the files we write. */
export const FileType = {
  ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q4_0: 2, MOSTLY_Q8_0: 7, MOSTLY_Q4_K_S: 14, MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_M: 17, MOSTLY_Q6_K: 18, MOSTLY_BF16: 32,
} as const;

const DTYPE_TO_GGML: Record<DType, number> = {
  f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0,
  q5_0: GgmlType.Q5_0, q5_1: GgmlType.Q5_1, q4_k: GgmlType.Q4_K, q5_k: GgmlType.Q5_K, q6_k: GgmlType.Q6_K,
};
const GGML_TO_DTYPE = new Map<number, DType>(Object.entries(DTYPE_TO_GGML).map(([d, t]) => [t, d as DType]));

/** HF tensor name -> GGUF tensor name (proj_1 is handled separately: it becomes two tensors). */
const LAYER_NAMES: Array<[string, string]> = [
  ["attn_norm.weight", "attn_norm.weight"],
  ["attn.qkv_proj.weight", "attn_qkv.weight"],
  ["attn.q_norm.weight", "attn_q_norm.weight"],
  ["attn.k_norm.weight", "attn_k_norm.weight"],
  ["attn.out_proj.weight", "attn_output.weight"],
  ["ffn_norm.weight", "ffn_norm.weight"],
  ["ffn.proj_2.weight", "ffn_down.weight"],
];
const GLOBAL_NAMES: Array<[string, string]> = [
  ["transformer.token_embeddings.weight", "token_embd.weight"],
  ["transformer.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

// ---------------------------------------------------------------------------------------------------
// Reading

function fail(file: string, msg: string): never {
  throw new CheckpointError(`${file}: ${msg}`);
}

function metaNumber(h: GgufHeader, key: string, required: true): number;
function metaNumber(h: GgufHeader, key: string, required: false): number | undefined;
function metaNumber(h: GgufHeader, key: string, required: boolean): number | undefined {
  const kv = ggufGet(h, key);
  if (!kv) return required ? fail(h.file, `missing metadata "${key}"`) : undefined;
  const v = kv.value;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return fail(h.file, `metadata "${key}" is ${describe(v)}, expected a number`);
}

/** A per-layer value: llama.cpp accepts either one number for every layer or an array of L numbers. */
function metaPerLayer(h: GgufHeader, key: string, L: number): number[] {
  const kv = ggufGet(h, key);
  if (!kv) fail(h.file, `missing metadata "${key}"`);
  const v = kv.value;
  if (typeof v === "number") return new Array(L).fill(v);
  if (typeof v === "object" && v !== null && "items" in v) {
    const items = v.items;
    if (items.length !== L) fail(h.file, `metadata "${key}" has ${items.length} entries, expected openelm.block_count = ${L}`);
    return items.map((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x <= 0) fail(h.file, `metadata "${key}"[${i}] is ${describe(x)}, expected a positive integer`);
      return x;
    });
  }
  return fail(h.file, `metadata "${key}" is ${describe(v)}, expected a number or an array of ${L} numbers`);
}

function describe(v: GgufValue): string {
  if (typeof v === "object") return `an array of ${v.items.length}`;
  return JSON.stringify(typeof v === "bigint" ? String(v) : v);
}

function metaStringArray(h: GgufHeader, key: string): string[] | undefined {
  const kv = ggufGet(h, key);
  if (!kv) return undefined;
  const v = kv.value as GgufArray;
  if (kv.type !== GgufType.ARRAY || v.itemType !== GgufType.STRING) fail(h.file, `metadata "${key}" must be an array of strings`);
  return v.items as string[];
}

function metaNumberArray(h: GgufHeader, key: string, n: number): number[] | undefined {
  const kv = ggufGet(h, key);
  if (!kv) return undefined;
  const v = kv.value as GgufArray;
  if (kv.type !== GgufType.ARRAY || !v.items.every((x) => typeof x === "number")) fail(h.file, `metadata "${key}" must be an array of numbers`);
  if (v.items.length !== n) fail(h.file, `metadata "${key}" has ${v.items.length} entries, tokenizer.ggml.tokens has ${n}`);
  return v.items as number[];
}

/** The largest power of two (<= 256) dividing every FFN width: a divisor for which make_divisible is exact. */
function ffnDivisor(dims: number[]): number {
  let d = 256;
  while (d > 1 && dims.some((x) => x % d !== 0)) d /= 2;
  return d;
}

/**
 * Rebuild config.json values from OpenELM GGUF metadata. GGUF keeps the derived per-layer sizes, not the
 * multipliers, so ffn_multipliers become width / model_dim with a divisor that reproduces each width.
 */
export function configFromGguf(h: GgufHeader, vocabSize: number, hasQKNorm: boolean, tied: boolean): OpenELMConfig {
  const arch = ggufGet(h, "general.architecture")?.value;
  if (arch !== ARCH) fail(h.file, `general.architecture is ${arch === undefined ? "missing" : JSON.stringify(arch)}, expected "openelm"`);
  const L = metaNumber(h, "openelm.block_count", true);
  const D = metaNumber(h, "openelm.embedding_length", true);
  const nQ = metaPerLayer(h, "openelm.attention.head_count", L);
  const nKV = metaPerLayer(h, "openelm.attention.head_count_kv", L);
  const ffn = metaPerLayer(h, "openelm.feed_forward_length", L);
  const hd = metaNumber(h, "openelm.attention.key_length", false) ?? metaNumber(h, "openelm.rope.dimension_count", false) ?? D / nQ[0];
  const rot = metaNumber(h, "openelm.rope.dimension_count", false);
  if (rot !== undefined && rot !== hd) fail(h.file, `openelm.rope.dimension_count is ${rot}, expected head_dim ${hd} (OpenELM rotates whole heads)`);
  const vlen = metaNumber(h, "openelm.attention.value_length", false);
  if (vlen !== undefined && vlen !== hd) fail(h.file, `openelm.attention.value_length is ${vlen}, expected key_length ${hd}`);
  const eps = metaNumber(h, "openelm.attention.layer_norm_rms_epsilon", false);
  if (eps !== undefined && Math.abs(eps - RMS_EPS) > 1e-9) fail(h.file, `openelm.attention.layer_norm_rms_epsilon is ${eps}, OpenELM uses ${RMS_EPS}`);
  const ctx = metaNumber(h, "openelm.context_length", false) ?? 2048;
  const divisor = ffnDivisor(ffn);
  const json = {
    model_type: ARCH,
    architectures: ["OpenELMForCausalLM"],
    vocab_size: vocabSize,
    num_transformer_layers: L,
    model_dim: D,
    head_dim: hd,
    num_query_heads: nQ,
    num_kv_heads: nKV,
    ffn_multipliers: ffn.map((f) => f / D),
    ffn_dim_divisor: divisor,
    ffn_with_glu: true,
    normalize_qk_projections: hasQKNorm,
    share_input_output_layers: tied,
    rope_freq_constant: metaNumber(h, "openelm.rope.freq_base", false) ?? 10000,
    rope_max_length: 2 * ctx, // not stored in GGUF; it only sizes HF's RoPE table
    max_context_length: ctx,
    activation_fn_name: "swish",
    normalization_layer_name: "rms_norm",
    bos_token_id: metaNumber(h, "tokenizer.ggml.bos_token_id", false) ?? 1,
    eos_token_id: metaNumber(h, "tokenizer.ggml.eos_token_id", false) ?? 2,
  };
  let config: OpenELMConfig;
  try {
    config = parseConfig(json, `${h.file} (metadata)`);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  for (let i = 0; i < L; i++) {
    const got = layerSizes(config, i).ffnDim;
    if (got !== ffn[i]) fail(h.file, `layer ${i}: feed_forward_length ${ffn[i]} cannot be expressed as an OpenELM FFN width (got ${got})`);
  }
  return config;
}

/** Read the embedded vocabulary, if any. */
export function vocabFromGguf(h: GgufHeader): GgufVocab | undefined {
  const tokens = metaStringArray(h, "tokenizer.ggml.tokens");
  if (!tokens) return undefined;
  const model = ggufGet(h, "tokenizer.ggml.model")?.value;
  const scores = metaNumberArray(h, "tokenizer.ggml.scores", tokens.length) ?? new Array(tokens.length).fill(0);
  const types = metaNumberArray(h, "tokenizer.ggml.token_type", tokens.length) ?? new Array(tokens.length).fill(1);
  return {
    model: typeof model === "string" ? model : "llama",
    tokens, scores: Float32Array.from(scores), tokenTypes: Int32Array.from(types),
    bosId: metaNumber(h, "tokenizer.ggml.bos_token_id", false) ?? 1,
    eosId: metaNumber(h, "tokenizer.ggml.eos_token_id", false) ?? 2,
    unkId: metaNumber(h, "tokenizer.ggml.unknown_token_id", false),
    padId: metaNumber(h, "tokenizer.ggml.padding_token_id", false),
  };
}

/** ggml types read by converting their blocks losslessly into a type the engine keeps (see the converters). */
const TRANSCODED = new Map<number, { dtype: DType; convert: (bytes: Uint8Array) => Uint8Array }>([
  [GgmlType.Q4_1, { dtype: "q5_1", convert: q4_1ToQ5_1 }],
  [GgmlType.Q3_K, { dtype: "q6_k", convert: q3kToQ6k }],
]);
const SUPPORTED = [...GGML_TO_DTYPE.keys(), ...TRANSCODED.keys()].sort((a, b) => a - b).map((id) => ggmlName(id)).join(", ");

function ggmlName(id: number): string {
  return Object.entries(GgmlType).find(([, v]) => v === id)![0];
}

/** The dtype a GGUF tensor is handed out in: its own (block-quantized types stay quantized), or its transcoding's. */
function storedDtype(h: GgufHeader, t: GgufTensorInfo): DType {
  const dtype = GGML_TO_DTYPE.get(t.type) ?? TRANSCODED.get(t.type)?.dtype;
  if (!dtype) return fail(h.file, `tensor "${t.name}" has type ${t.typeName}; supported: ${SUPPORTED}`);
  return dtype; // the reader (gguf.ts) already checked ne[0] against the block size
}

/** A tensor's bytes as a StoredTensor under `hfName` (HF shape = reversed ne). */
function storedFrom(h: GgufHeader, t: GgufTensorInfo, bytes: Uint8Array, hfName: string): StoredTensor {
  const dtype = storedDtype(h, t), convert = TRANSCODED.get(t.type)?.convert;
  return { name: hfName, dtype, shape: t.ne.slice().reverse(), data: convert ? convert(bytes) : bytes };
}

/**
 * A tensor whose bytes are read from the file at each access of .data (and then left to the collector),
 * so consumers read .data once (backends, toFloat32 do).
 */
function lazyTensor(name: string, dtype: DType, shape: number[], read: () => Uint8Array,
  readInto?: (start: number, into: Uint8Array) => void): StoredTensor {
  const t: StoredTensor = { name, dtype, shape, get data() { return read(); } };
  if (readInto) t.readInto = readInto;
  return t;
}

/** Bytes [start, start + into.length) of tensors a then b read back to back (readStacked's array), from the file. */
function readStackedRange(r: GgufReader, a: GgufTensorInfo, b: GgufTensorInfo, start: number, into: Uint8Array): void {
  const inA = Math.max(0, Math.min(into.length, a.nBytes - start));
  if (inA > 0) r.tensorRange(a, start, into.subarray(0, inA));
  if (inA < into.length) r.tensorRange(b, Math.max(0, start - a.nBytes), into.subarray(inA));
}

/** Two raw tensors' bytes read back to back into one array (no intermediate copies). */
function readStacked(r: GgufReader, a: GgufTensorInfo, b: GgufTensorInfo): Uint8Array {
  const out = new Uint8Array(a.nBytes + b.nBytes);
  r.tensorBytes(a, out);
  r.tensorBytes(b, out.subarray(a.nBytes));
  return out;
}

/** Widen any stored tensor to float32 (dequantizing block-quantized rows). */
export function storedToFloat32(t: StoredTensor): Float32Array {
  if (!isQuantized(t.dtype)) return toFloat32(t);
  const K = t.shape[t.shape.length - 1];
  const rows = numel(t.shape) / K;
  const out = new Float32Array(rows * K);
  const row = new Float32Array(K);
  const data = t.data; // once (lazily read tensors read at each access)
  for (let r = 0; r < rows; r++) {
    dequantizeRow(t.dtype, data, r, K, row);
    out.set(row, r * K);
  }
  return out;
}

function f32Stored(name: string, shape: number[], f: Float32Array): StoredTensor {
  return { name, dtype: "f32", shape, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

/** Stack two [F, D] matrices into [2F, D]: row concatenation (the bytes of whole rows). */
function stackRows(name: string, a: StoredTensor, b: StoredTensor): StoredTensor {
  if (a.dtype === b.dtype) {
    const ad = a.data, bd = b.data;
    const data = new Uint8Array(ad.length + bd.length);
    data.set(ad, 0);
    data.set(bd, ad.length);
    return { name, dtype: a.dtype, shape: [a.shape[0] + b.shape[0], a.shape[1]], data };
  }
  // Mixed types (possible in hand-made files): widen both.
  const fa = storedToFloat32(a), fb = storedToFloat32(b);
  const f = new Float32Array(fa.length + fb.length);
  f.set(fa, 0);
  f.set(fb, fa.length);
  return f32Stored(name, [a.shape[0] + b.shape[0], a.shape[1]], f);
}

/**
 * Read an OpenELM GGUF (as written by llama.cpp or by writeGguf): config rebuilt from metadata, tensors under
 * HF names in their stored dtype (Q3_K and Q4_1 transcoded losslessly to q6_k and q5_1), embedded vocabulary.
 * @throws CheckpointError for malformed files, another architecture, missing/unexpected tensors or wrong shapes
 */
export function readGguf(path: string): GgufCheckpoint {
  const ck = openGgufCheckpoint(path, false);
  ck.close();
  return ck;
}

/**
 * As readGguf, but with lazy = true the tensors' bytes are read from the file only when their .data is
 * accessed (each access reads again), so a loader holds one tensor at a time; close() when done.
 */
export function openGgufCheckpoint(path: string, lazy = true): GgufCheckpoint & { close(): void } {
  return openGgufCheckpointSource(fileSource(path), lazy);
}

/** As openGgufCheckpoint, over any ByteSource (a browser File, bytes in memory). */
export function openGgufCheckpointSource(src: ByteSource, lazy = true): GgufCheckpoint & { close(): void } {
  const path = src.name;
  const r = openGgufSource(src);
  let ok = false;
  try {
    const h = r.header;
    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    const tied = !byName.has("output.weight");
    const hasQKNorm = byName.has("blk.0.attn_q_norm.weight");
    const embd = byName.get("token_embd.weight");
    if (!embd) fail(path, `missing tensor "token_embd.weight"`);
    const vocab = vocabFromGguf(h);
    const vocabSize = embd.ne[1];
    if (vocab && vocab.tokens.length !== vocabSize) {
      fail(path, `tokenizer.ggml.tokens has ${vocab.tokens.length} entries, token_embd.weight has ${vocabSize} rows`);
    }
    const config = configFromGguf(h, vocabSize, hasQKNorm, tied);

    const tensors = new Map<string, StoredTensor>();
    const used = new Set<string>();
    const take = (ggufName: string, hfName: string, required: boolean): StoredTensor | undefined => {
      const t = byName.get(ggufName);
      if (!t) return required ? fail(path, `missing tensor "${ggufName}"`) : undefined;
      used.add(ggufName);
      return lazy ? lazyTensor(hfName, storedDtype(h, t), t.ne.slice().reverse(), () => storedFrom(h, t, r.tensorBytes(t), hfName).data,
        TRANSCODED.has(t.type) ? undefined : (start, into) => r.tensorRange(t, start, into))
        : storedFrom(h, t, r.tensorBytes(t), hfName);
    };
    for (const [hf, gg] of GLOBAL_NAMES) {
      const t = take(gg, hf, hf !== "lm_head.weight");
      if (t) tensors.set(hf, t);
    }
    for (let i = 0; i < config.num_transformer_layers; i++) {
      const p = `transformer.layers.${i}.`, b = `blk.${i}.`;
      for (const [hf, gg] of LAYER_NAMES) {
        const qkNorm = hf === "attn.q_norm.weight" || hf === "attn.k_norm.weight";
        const t = take(b + gg, p + hf, !qkNorm || config.normalize_qk_projections);
        if (t) tensors.set(p + hf, t);
      }
      const gateInfo = byName.get(b + "ffn_gate.weight"), upInfo = byName.get(b + "ffn_up.weight");
      const gate = take(b + "ffn_gate.weight", "", true)!;
      const up = take(b + "ffn_up.weight", "", true)!;
      if (gate.shape[0] !== up.shape[0] || gate.shape[1] !== up.shape[1]) {
        fail(path, `blk.${i}.ffn_gate.weight ne [${gate.shape.slice().reverse()}] and ffn_up.weight ne [${up.shape.slice().reverse()}] differ`);
      }
      const name = p + "ffn.proj_1.weight";
      const raw = gate.dtype === up.dtype && GGML_TO_DTYPE.has(gateInfo!.type) && GGML_TO_DTYPE.has(upInfo!.type);
      tensors.set(name, lazy ? lazyTensor(name, gate.dtype === up.dtype ? gate.dtype : "f32", [gate.shape[0] + up.shape[0], gate.shape[1]],
        () => raw ? readStacked(r, gateInfo!, upInfo!) : stackRows(name, gate, up).data,
        raw ? (start, into) => readStackedRange(r, gateInfo!, upInfo!, start, into) : undefined) : stackRows(name, gate, up));
    }
    const extra = h.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
    if (extra.length) fail(path, `unexpected tensor${extra.length > 1 ? "s" : ""} ${extra.slice(0, 5).map((n) => `"${n}"`).join(", ")} (not part of an OpenELM model)`);
    const ft = ggufGet(h, "general.file_type")?.value;
    ok = true;
    return { file: path, config, tensors, vocab, fileType: typeof ft === "number" ? ft : undefined, metadata: h.metadata, close: () => r.close() };
  } finally {
    if (!ok || !lazy) r.close();
  }
}

/**
 * The GGUF branch of model loading: config, HF-named tensors and the tokenizer.model rebuilt from the
 * embedded vocabulary (undefined when the file has none), ready for modelFromTensors. The tensors are read
 * from the file one at a time as the backend takes them (so loading never holds the file and its copy);
 * close() once the model is built.
 */
export function loadGgufCheckpoint(path: string): { config: OpenELMConfig; tensors: Map<string, StoredTensor>; vocab?: GgufVocab; close(): void } {
  const ck = openGgufCheckpoint(path);
  return { config: ck.config, tensors: ck.tensors, vocab: ck.vocab, close: ck.close };
}

// ---------------------------------------------------------------------------------------------------
// Writing

/** Rows [r0, r1) of a 2-D stored tensor (whole rows are contiguous bytes in every dtype). */
function sliceRows(t: StoredTensor, r0: number, r1: number): StoredTensor {
  const K = t.shape[1];
  const rowBytes = bytesFor(t.dtype, K);
  return { name: t.name, dtype: t.dtype, shape: [r1 - r0, K], data: t.data.subarray(r0 * rowBytes, r1 * rowBytes) };
}

/** gguf-py's size label: 4,994,880 -> "5.0M", 271,527,168 -> "272M". */
export function sizeLabel(n: number): string {
  const [scaled, suffix] = n > 1e12 ? [n * 1e-12, "T"] : n > 1e9 ? [n * 1e-9, "B"] : n > 1e6 ? [n * 1e-6, "M"] : [n * 1e-3, "K"];
  const fix = Math.max(2 - String(Math.round(scaled)).length, 0);
  return `${scaled.toFixed(fix)}${suffix}`;
}

/** general.file_type for a set of tensor dtypes: named for the dominant matrix type, as llama.cpp does. */
export function fileTypeFor(dtypes: Iterable<DType>): number {
  const s = new Set(dtypes);
  if (s.has("q4_0")) return FileType.MOSTLY_Q4_0;
  if (s.has("q8_0")) return FileType.MOSTLY_Q8_0;
  if (s.has("f16")) return FileType.MOSTLY_F16;
  if (s.has("bf16")) return FileType.MOSTLY_BF16;
  return FileType.ALL_F32;
}

export interface WriteGgufOptions {
  /** general.name (default "OpenELM"); general.basename / size_label are derived like the converter does. */
  name?: string;
  basename?: string;
  finetune?: string;
  /** general.file_type (default: named for the dominant matrix dtype); K-quant mixes pass their llama_ftype. */
  fileType?: number;
}

const u32 = (key: string, value: number): GgufKV => ({ key, type: GgufType.UINT32, value });
const f32 = (key: string, value: number): GgufKV => ({ key, type: GgufType.FLOAT32, value });
const str = (key: string, value: string): GgufKV => ({ key, type: GgufType.STRING, value });
const i32s = (key: string, items: number[]): GgufKV => ({ key, type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items } });

/** The metadata llama.cpp's converter writes for OpenELM, in its order. */
export function openelmMetadata(c: OpenELMConfig, fileType: number, vocab: GgufVocab | undefined, opts: WriteGgufOptions = {}): GgufKV[] {
  const L = c.num_transformer_layers;
  const sizes = Array.from({ length: L }, (_, i) => layerSizes(c, i));
  const md: GgufKV[] = [str("general.architecture", ARCH), str("general.type", "model"), str("general.name", opts.name ?? "OpenELM")];
  if (opts.finetune) md.push(str("general.finetune", opts.finetune));
  if (opts.basename) md.push(str("general.basename", opts.basename));
  md.push(
    str("general.size_label", sizeLabel(parameterCount(c))),
    u32("openelm.block_count", L),
    u32("openelm.context_length", c.max_context_length),
    u32("openelm.embedding_length", c.model_dim),
    i32s("openelm.feed_forward_length", sizes.map((s) => s.ffnDim)),
    i32s("openelm.attention.head_count", sizes.map((s) => s.nQ)),
    i32s("openelm.attention.head_count_kv", sizes.map((s) => s.nKV)),
    f32("openelm.rope.freq_base", c.rope_freq_constant),
    f32("openelm.attention.layer_norm_rms_epsilon", RMS_EPS),
    u32("openelm.rope.dimension_count", c.head_dim),
    u32("openelm.attention.key_length", c.head_dim),
    u32("openelm.attention.value_length", c.head_dim),
    u32("general.file_type", fileType),
  );
  if (vocab) {
    md.push(
      str("tokenizer.ggml.model", vocab.model),
      str("tokenizer.ggml.pre", "default"),
      { key: "tokenizer.ggml.tokens", type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: vocab.tokens } },
      { key: "tokenizer.ggml.scores", type: GgufType.ARRAY, value: { itemType: GgufType.FLOAT32, items: Array.from(vocab.scores) } },
      { key: "tokenizer.ggml.token_type", type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: Array.from(vocab.tokenTypes) } },
      u32("tokenizer.ggml.bos_token_id", vocab.bosId),
      u32("tokenizer.ggml.eos_token_id", vocab.eosId),
    );
  }
  md.push(u32("general.quantization_version", 2));
  return md;
}

/**
 * HF-named tensors -> GGUF tensors in the converter's order (HF names sorted as safetensors stores them,
 * proj_1 split into ffn_gate + ffn_up). 1-D tensors are written as F32, as the converter does (llama.cpp's
 * norm kernels expect F32 weights).
 */
export function ggufTensorsFromHF(c: OpenELMConfig, tensors: Map<string, StoredTensor>, file = "tensors"): GgufTensorOut[] {
  const toGguf = new Map<string, string>(GLOBAL_NAMES);
  for (let i = 0; i < c.num_transformer_layers; i++)
    for (const [hf, gg] of LAYER_NAMES) toGguf.set(`transformer.layers.${i}.${hf}`, `blk.${i}.${gg}`);
  const out: GgufTensorOut[] = [];
  const emit = (name: string, t: StoredTensor) => {
    if (t.shape.length === 1 && t.dtype !== "f32") t = f32Stored(t.name, t.shape, storedToFloat32(t));
    out.push({ name, type: DTYPE_TO_GGML[t.dtype], ne: t.shape.slice().reverse(), data: t.data });
  };
  const names = [...tensors.keys()].sort();
  for (const hf of names) {
    const t = tensors.get(hf)!;
    const m = /^transformer\.layers\.(\d+)\.ffn\.proj_1\.weight$/.exec(hf);
    if (m) {
      const i = Number(m[1]);
      const F = layerSizes(c, i).ffnDim;
      if (t.shape.length !== 2 || t.shape[0] !== 2 * F) throw new CheckpointError(`${file}: tensor "${hf}" has shape ${JSON.stringify(t.shape)}, expected [${2 * F}, ${c.model_dim}]`);
      emit(`blk.${i}.ffn_gate.weight`, sliceRows(t, 0, F));
      emit(`blk.${i}.ffn_up.weight`, sliceRows(t, F, 2 * F));
      continue;
    }
    const gg = toGguf.get(hf);
    if (!gg) throw new CheckpointError(`${file}: tensor "${hf}" has no GGUF name (not part of an OpenELM model)`);
    emit(gg, t);
  }
  return out;
}

/**
 * Write an OpenELM GGUF that llama.cpp loads: the converter's metadata and tensor names, the vocabulary
 * embedded (pass readTokenizerModelVocab() for OpenELM's Llama-2 tokenizer), tensors in their stored dtype.
 */
export function writeGguf(path: string, config: OpenELMConfig, tensors: Map<string, StoredTensor>, vocab: GgufVocab | undefined,
  opts: WriteGgufOptions = {}): void {
  if (vocab && vocab.tokens.length !== config.vocab_size) {
    throw new CheckpointError(`${path}: the vocabulary has ${vocab.tokens.length} tokens, config.vocab_size is ${config.vocab_size}`);
  }
  const gg = ggufTensorsFromHF(config, tensors, path);
  const fileType = opts.fileType ?? fileTypeFor([...tensors.values()].filter((t) => t.shape.length === 2).map((t) => t.dtype));
  const name = opts.name ?? basename(path).replace(/\.gguf$/i, "");
  writeGgufFile(path, openelmMetadata(config, fileType, vocab, { ...opts, name }), gg);
}
