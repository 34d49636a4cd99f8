// safetensors: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw data.
// Reference: huggingface/safetensors (format spec). Every field is validated before anything is allocated.

import { CheckpointError } from "../errors.js";
import type { DType, StoredTensor } from "../tensor/tensor.js";
import { bytesFor, numel } from "../tensor/tensor.js";
import { writeFileAtomic, writeFileAtomicStreaming } from "./atomic_write.js";
import type { ByteSource } from "./byte_source.js";
import { fileSource } from "./file_source.js";

const DTYPES: Record<string, { dtype: DType; size: number }> = {
  F32: { dtype: "f32", size: 4 }, BF16: { dtype: "bf16", size: 2 }, F16: { dtype: "f16", size: 2 },
};
const DTYPE_NAMES: Partial<Record<DType, string>> = { f32: "F32", bf16: "BF16", f16: "F16" };
/** Headers larger than this are refused (the safetensors library's own bound is 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

interface Entry { name: string; dtype: DType; shape: number[]; begin: number; end: number }

/** Parse and validate a header; dataLength is the number of bytes after the header. */
function parseHeader(json: Uint8Array, dataLength: number, file: string): { entries: Entry[]; metadata: Record<string, string> } {
  let h: unknown;
  try { h = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json)); } catch (e) {
    throw new CheckpointError(`${file}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof h !== "object" || h === null || Array.isArray(h)) throw new CheckpointError(`${file}: header is not a JSON object`);
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(h as Record<string, unknown>)) {
    if (name === "__metadata__") { metadata = (v ?? {}) as Record<string, string>; continue; }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) throw new CheckpointError(`${file}: tensor "${name}": entry is not an object`);
    const dt = typeof e.dtype === "string" ? DTYPES[e.dtype] : undefined;
    if (!dt) throw new CheckpointError(`${file}: tensor "${name}" has dtype ${JSON.stringify(e.dtype)}, expected one of F32, BF16, F16`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new CheckpointError(`${file}: tensor "${name}" has shape ${JSON.stringify(e.shape)}, expected a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0])
      throw new CheckpointError(`${file}: tensor "${name}" has data_offsets ${JSON.stringify(off)}, expected [begin, end] with 0 <= begin <= end`);
    const shape = e.shape as number[];
    const want = numel(shape) * dt.size;
    if (off[1] - off[0] !== want)
      throw new CheckpointError(`${file}: tensor "${name}" has data_offsets ${JSON.stringify(off)} (${off[1] - off[0]} bytes), but ${e.dtype} ${JSON.stringify(shape)} needs ${want} bytes`);
    if (off[1] > dataLength)
      throw new CheckpointError(`${file}: tensor "${name}" has data_offsets ${JSON.stringify(off)} beyond the data section of ${dataLength} bytes (file truncated?)`);
    entries.push({ name, dtype: dt.dtype, shape, begin: off[0], end: off[1] });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].begin < sorted[i - 1].end)
      throw new CheckpointError(`${file}: tensors "${sorted[i - 1].name}" ${JSON.stringify([sorted[i - 1].begin, sorted[i - 1].end])} and "${sorted[i].name}" ${JSON.stringify([sorted[i].begin, sorted[i].end])} overlap`);
  return { entries, metadata };
}

function headerLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new CheckpointError(`${file}: file is ${fileSize} bytes, too short for a safetensors header (truncated?)`);
  const n = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES) throw new CheckpointError(`${file}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + n > fileSize) throw new CheckpointError(`${file}: header length ${n} goes beyond the end of the ${fileSize}-byte file (truncated?)`);
  return n;
}

/** Read and validate the header of a source; n is its length (the data section starts at 8 + n). */
function readHeader(src: ByteSource): { n: number; entries: Entry[]; metadata: Record<string, string> } {
  const size = src.size;
  const first8 = new Uint8Array(8);
  src.read(0, Math.min(8, size), first8);
  const n = headerLength(first8, size, src.name);
  return { n, ...parseHeader(src.read(8, n), size - 8 - n, src.name) };
}

/** Parse safetensors bytes held in memory. Tensors are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, file = "model.safetensors"): Map<string, StoredTensor> {
  const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, file);
  const { entries } = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n, file);
  const out = new Map<string, StoredTensor>();
  for (const e of entries)
    out.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data: bytes.subarray(8 + n + e.begin, 8 + n + e.end) });
  return out;
}

/**
 * Read a .safetensors file tensor by tensor (each tensor gets its own buffer, so files larger than
 * Node's 4 GB Buffer limit load, and nothing but the tensors stays in memory).
 */
export function readSafetensors(path: string): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  const f = openSafetensors(path);
  try {
    const tensors = new Map<string, StoredTensor>();
    for (const [name, t] of f.tensors) tensors.set(name, { name, dtype: t.dtype, shape: t.shape, data: t.data });
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}

/**
 * Open a .safetensors file and validate its header; each tensor's bytes are read from the file at each
 * access of its .data (consumers read it once), so a loader holds one tensor at a time. close() when done.
 */
export function openSafetensors(path: string): { tensors: Map<string, StoredTensor>; metadata: Record<string, string>; close(): void } {
  return openSafetensorsSource(fileSource(path));
}

/** As openSafetensors, over any ByteSource (a browser File, bytes in memory); close() closes the source. */
export function openSafetensorsSource(src: ByteSource): { tensors: Map<string, StoredTensor>; metadata: Record<string, string>; close(): void } {
  let ok = false;
  try {
    const { n, entries, metadata } = readHeader(src);
    const tensors = new Map<string, StoredTensor>();
    for (const e of entries) {
      const read = (): Uint8Array => src.read(8 + n + e.begin, e.end - e.begin);
      const readInto = (start: number, into: Uint8Array): void => {
        if (start < 0 || start + into.length > e.end - e.begin) throw new RangeError(`${src.name}: tensor "${e.name}": bytes ${start} … ${start + into.length} asked of ${e.end - e.begin}`);
        src.read(8 + n + e.begin + start, into.length, into);
      };
      tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, get data() { return read(); }, readInto });
    }
    ok = true;
    return { tensors, metadata, close: () => src.close() };
  } finally {
    if (!ok) src.close();
  }
}

/** The tensor entries of a .safetensors file (name, dtype, shape, byte size) without reading their data. */
export function readSafetensorsHeader(path: string): Array<{ name: string; dtype: DType; shape: number[]; bytes: number }> {
  const src = fileSource(path);
  try {
    return readHeader(src).entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, bytes: e.end - e.begin }));
  } finally {
    src.close();
  }
}

/**
 * The 8-byte length and the JSON header for tensors laid out back to back in the order given, the header
 * padded with spaces to a multiple of 8 (as the safetensors library does).
 */
function encodeHeader(specs: Array<{ name: string; dtype: DType; shape: number[]; bytes: number }>, metadata: Record<string, string>,
  file: string): [Uint8Array, Uint8Array] {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const s of specs) {
    const name = DTYPE_NAMES[s.dtype];
    if (!name) throw new CheckpointError(`${file}: tensor "${s.name}" has dtype ${s.dtype}; safetensors stores F32, BF16 or F16 (use GGUF for quantized weights)`);
    header[s.name] = { dtype: name, shape: s.shape, data_offsets: [off, off + s.bytes] };
    off += s.bytes;
  }
  const utf8 = new TextEncoder().encode(JSON.stringify(header)); // TextEncoder: the browser serializes adapters too
  const hbytes = new Uint8Array(utf8.byteLength + ((8 - (utf8.byteLength % 8)) % 8)).fill(0x20);
  hbytes.set(utf8);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(hbytes.byteLength), true);
  return [len, hbytes];
}

/** Serialize tensors (sorted by name, header padded with spaces to a multiple of 8, as the safetensors library does). */
export function serializeSafetensors(tensors: Iterable<StoredTensor>, metadata: Record<string, string> = { format: "pt" },
  file = "safetensors"): Uint8Array[] {
  const list = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header = encodeHeader(list.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.byteLength })), metadata, file);
  return [...header, ...list.map((t) => t.data)];
}

/** Write a .safetensors file atomically (temp name, fsync, rename). */
export function writeSafetensors(path: string, tensors: Iterable<StoredTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, path));
}

/**
 * Write a .safetensors file whose tensors are produced one at a time (so a multi-GB checkpoint never sits
 * in memory whole). specs must be sorted by name; produce returns each tensor's bytes.
 */
export function writeSafetensorsStreaming(path: string, specs: Array<{ name: string; dtype: DType; shape: number[] }>,
  produce: (spec: { name: string; dtype: DType; shape: number[] }) => Uint8Array, metadata: Record<string, string> = { format: "pt" }): void {
  const size = (s: { dtype: DType; shape: number[] }) => bytesFor(s.dtype, numel(s.shape));
  const [len, hbytes] = encodeHeader(specs.map((s) => ({ ...s, bytes: size(s) })), metadata, path);
  writeFileAtomicStreaming(path, (write) => {
    write(len); write(hbytes);
    for (const s of specs) {
      const data = produce(s);
      if (data.byteLength !== size(s)) throw new CheckpointError(`${path}: tensor "${s.name}" produced ${data.byteLength} bytes, expected ${size(s)}`);
      write(data);
    }
  });
}
