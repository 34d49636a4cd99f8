// GGUF v3 container: header, typed key/value metadata, tensor directory, aligned data section.
// Reference: ggml/docs/gguf.md and ggml/src/gguf.cpp (llama.cpp); gguf-py/gguf/gguf_writer.py for the writer.
// This file knows nothing about OpenELM (see gguf_openelm.ts); it reads and writes any GGUF file.
//
// Every count, length, dimension, offset and size is checked against the file length before anything is
// allocated, so a malformed or hostile file gets a CheckpointError naming the file, never a crash or a
// multi-gigabyte allocation.

import { CheckpointError } from "../errors.js";
import { writeFileAtomic } from "./atomic_write.js";
import type { ByteSource } from "./byte_source.js";
import { fileSource } from "./file_source.js";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types (gguf.md `gguf_metadata_value_type`). */
export const GgufType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufType)[keyof typeof GgufType];
const TYPE_NAMES = Object.fromEntries(Object.entries(GgufType).map(([k, v]) => [v, k])) as Record<number, string>;

/** Scalar values: 64-bit integers come back as bigint, everything else as number/boolean/string. */
export type GgufScalar = number | bigint | boolean | string;
/** An array value: `itemType` says how its items are stored (nested arrays hold GgufArray items). */
export interface GgufArray { itemType: GgufValueType; items: Array<GgufScalar | GgufArray> }
export type GgufValue = GgufScalar | GgufArray;

/** One metadata entry, in file order. */
export interface GgufKV { key: string; type: GgufValueType; value: GgufValue }

/** ggml tensor types: [id, name, weights per block, bytes per block]. Only these ids are accepted. */
const GGML_TYPES: Array<[number, string, number, number]> = [
  [0, "F32", 1, 4], [1, "F16", 1, 2], [2, "Q4_0", 32, 18], [3, "Q4_1", 32, 20],
  [6, "Q5_0", 32, 22], [7, "Q5_1", 32, 24], [8, "Q8_0", 32, 34], [9, "Q8_1", 32, 36],
  [10, "Q2_K", 256, 84], [11, "Q3_K", 256, 110], [12, "Q4_K", 256, 144], [13, "Q5_K", 256, 176],
  [14, "Q6_K", 256, 210], [15, "Q8_K", 256, 292], [24, "I8", 1, 1], [25, "I16", 1, 2],
  [26, "I32", 1, 4], [27, "I64", 1, 8], [28, "F64", 1, 8], [30, "BF16", 1, 2],
];
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;

export interface GgmlTypeInfo { id: number; name: string; blockSize: number; typeSize: number }
const TYPE_BY_ID = new Map(GGML_TYPES.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]));

/** Block size and bytes per block of a ggml type id, or undefined for an id we do not know. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return TYPE_BY_ID.get(id);
}

/** A tensor directory entry. `ne` is in GGUF order (ne[0] is the contiguous dimension). */
export interface GgufTensorInfo {
  name: string;
  type: number;
  typeName: string;
  ne: number[];
  /** Byte offset within the data section. */
  offset: number;
  nBytes: number;
}

export interface GgufHeader {
  file: string;
  fileSize: number;
  version: number;
  alignment: number;
  /** Absolute byte offset of the data section. */
  dataOffset: number;
  metadata: GgufKV[];
  tensors: GgufTensorInfo[];
}

const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_ARRAY_DEPTH = 8;
/** Smallest possible encodings, used to bound counts before looping over them. */
const MIN_KV_BYTES = 8 + 4 + 1; // key length, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8; // name length, n_dims, one dim, type, offset
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Thrown internally when the header runs past the bytes read so far (but not past the file). */
class NeedMoreBytes { constructor(readonly upTo: number) {} }

/** A cursor over the first `bytes.length` bytes of a file of `fileSize` bytes. */
class Cursor {
  pos = 0;
  private readonly dv: DataView;
  private readonly utf8 = new TextDecoder("utf-8", { ignoreBOM: true }); // a piece may be U+FEFF itself
  constructor(private readonly bytes: Uint8Array, private readonly fileSize: number, private readonly file: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(msg: string): never {
    throw new CheckpointError(`${this.file}: ${msg}`);
  }
  /** Make sure n more bytes exist in the file (else: truncated) and have been read (else: NeedMoreBytes). */
  need(n: number, what: string): void {
    if (this.pos + n > this.fileSize) {
      this.fail(`truncated: ${what} at byte ${this.pos} needs ${n} bytes, the file has ${this.fileSize}`);
    }
    if (this.pos + n > this.bytes.length) throw new NeedMoreBytes(this.pos + n);
  }
  remaining(): number {
    return this.fileSize - this.pos;
  }
  u32(what: string): number { this.need(4, what); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  /** u64 as a number; values above 2^53 cannot be a valid count, size or offset in a file we can read. */
  u64(what: string): number {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} at byte ${this.pos} is ${v}, which is absurd`);
    this.pos += 8;
    return Number(v);
  }
  string(what: string): string {
    const at = this.pos;
    const len = this.u64(`${what} length`);
    if (len > this.remaining()) {
      this.fail(`${what} at byte ${at} has length ${len}, past the end of the file (${this.fileSize} bytes)`);
    }
    this.need(len, what);
    const s = this.utf8.decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  scalar(type: number, what: string): GgufScalar {
    const size = SCALAR_SIZE[type];
    this.need(size, what);
    const p = this.pos;
    this.pos += size;
    switch (type) {
      case GgufType.UINT8: return this.dv.getUint8(p);
      case GgufType.INT8: return this.dv.getInt8(p);
      case GgufType.UINT16: return this.dv.getUint16(p, true);
      case GgufType.INT16: return this.dv.getInt16(p, true);
      case GgufType.UINT32: return this.dv.getUint32(p, true);
      case GgufType.INT32: return this.dv.getInt32(p, true);
      case GgufType.FLOAT32: return this.dv.getFloat32(p, true);
      case GgufType.BOOL: {
        const b = this.dv.getUint8(p);
        if (b > 1) this.fail(`${what} at byte ${p} is a bool with value ${b} (expected 0 or 1)`);
        return b === 1;
      }
      case GgufType.UINT64: return this.dv.getBigUint64(p, true);
      case GgufType.INT64: return this.dv.getBigInt64(p, true);
      case GgufType.FLOAT64: return this.dv.getFloat64(p, true);
    }
    return this.fail(`${what}: unknown value type ${type}`);
  }
  value(type: number, what: string, depth: number): GgufValue {
    if (type === GgufType.STRING) return this.string(what);
    if (type === GgufType.ARRAY) {
      if (depth >= MAX_ARRAY_DEPTH) this.fail(`${what}: arrays nested more than ${MAX_ARRAY_DEPTH} deep`);
      const at = this.pos;
      const itemType = this.u32(`${what} array type`);
      if (!(itemType in TYPE_NAMES)) this.fail(`${what}: array at byte ${at} has unknown item type ${itemType}`);
      const count = this.u64(`${what} array length`);
      const minItem = itemType === GgufType.STRING ? 8 : itemType === GgufType.ARRAY ? 12 : SCALAR_SIZE[itemType];
      if (count * minItem > this.remaining()) {
        this.fail(`${what}: array at byte ${at} claims ${count} items of type ${TYPE_NAMES[itemType]}, more than the ${this.remaining()} bytes left in the file can hold`);
      }
      const items: Array<GgufScalar | GgufArray> = new Array(count);
      for (let i = 0; i < count; i++) items[i] = this.value(itemType, what, depth + 1);
      return { itemType: itemType as GgufValueType, items };
    }
    if (!(type in SCALAR_SIZE)) this.fail(`${what}: unknown value type ${type}`);
    return this.scalar(type, what);
  }
}

/**
 * Parse and validate a GGUF header (everything before the data section) from the first bytes of a file.
 * @param bytes a prefix of the file (or the whole file)
 * @param fileSize the full file length, against which every size and offset is checked
 * @throws CheckpointError for any malformed field; an internal NeedMoreBytes when `bytes` is too short
 */
function parseHeaderFrom(bytes: Uint8Array, fileSize: number, file: string): GgufHeader {
  const c: Cursor = new Cursor(bytes, fileSize, file);
  if (fileSize < 24) c.fail(`truncated: ${fileSize} bytes, a GGUF header needs at least 24`);
  c.need(24, "header");
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== GGUF_MAGIC) c.fail(`bad magic ${JSON.stringify(magic)} (expected "GGUF"): not a GGUF file`);
  c.pos = 4;
  const version = c.u32("version");
  // v2 differs from v3 only in that v3 may be big-endian (which shows up as a byte-swapped version).
  if (version !== 3 && version !== 2) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    if (swapped === 3 || swapped === 2) c.fail(`big-endian GGUF (version ${swapped} byte-swapped) is not supported`);
    c.fail(`unsupported GGUF version ${version} (expected 3)`);
  }
  const tensorCount = c.u64("tensor_count");
  const kvCount = c.u64("kv_count");
  if (tensorCount * MIN_TENSOR_INFO_BYTES > c.remaining()) {
    c.fail(`tensor_count ${tensorCount} is impossible in a file of ${fileSize} bytes`);
  }
  if (kvCount * MIN_KV_BYTES > c.remaining()) c.fail(`kv_count ${kvCount} is impossible in a file of ${fileSize} bytes`);

  const metadata: GgufKV[] = [];
  const seenKeys = new Set<string>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key #${i}`);
    if (seenKeys.has(key)) c.fail(`metadata key "${key}" appears twice`);
    seenKeys.add(key);
    const typeAt = c.pos;
    const type = c.u32(`type of "${key}"`);
    if (!(type in TYPE_NAMES)) c.fail(`metadata "${key}" at byte ${typeAt} has unknown value type ${type}`);
    metadata.push({ key, type: type as GgufValueType, value: c.value(type, `metadata "${key}"`, 0) });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignKV = metadata.find((kv) => kv.key === "general.alignment");
  if (alignKV) {
    const a = alignKV.value;
    if (alignKV.type !== GgufType.UINT32 || typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) {
      c.fail(`general.alignment must be a UINT32 power of two, got ${TYPE_NAMES[alignKV.type]} ${String(a)}`);
    }
    alignment = a;
  }

  const infos: Array<Omit<GgufTensorInfo, "nBytes"> & { nBytes: number }> = [];
  const seenNames = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`tensor #${i} name`);
    if (seenNames.has(name)) c.fail(`tensor "${name}" appears twice`);
    seenNames.add(name);
    const nDims = c.u32(`tensor "${name}" n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) c.fail(`tensor "${name}" has ${nDims} dimensions (expected 1 to ${MAX_DIMS})`);
    const ne: number[] = [];
    let count = 1;
    for (let d = 0; d < nDims; d++) {
      const n = c.u64(`tensor "${name}" ne[${d}]`);
      ne.push(n);
      count *= n;
    }
    const typeAt = c.pos;
    const type = c.u32(`tensor "${name}" type`);
    const info = ggmlTypeInfo(type);
    if (!info) c.fail(`tensor "${name}" at byte ${typeAt} has unknown ggml type ${type}`);
    const offset = c.u64(`tensor "${name}" offset`);
    if (ne[0] % info.blockSize !== 0) {
      c.fail(`tensor "${name}" of type ${info.name} has ne[0] = ${ne[0]}, not a multiple of its block size ${info.blockSize}`);
    }
    // Bound the element count by the file size first, so the byte count below cannot overflow.
    if (count > fileSize * info.blockSize) {
      c.fail(`tensor "${name}" has shape [${ne.join(", ")}], too large for a file of ${fileSize} bytes`);
    }
    const nBytes = (count / info.blockSize) * info.typeSize;
    if (offset % alignment !== 0) c.fail(`tensor "${name}" offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, typeName: info.name, ne, offset, nBytes });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (tensorCount > 0 && dataOffset > fileSize) {
    c.fail(`truncated: the data section would start at byte ${dataOffset}, the file has ${fileSize} bytes`);
  }
  const dataSize = fileSize - dataOffset;
  for (const t of infos) {
    if (t.offset + t.nBytes > dataSize) {
      c.fail(`tensor "${t.name}" data [${t.offset}, ${t.offset + t.nBytes}) of the data section lies beyond the end of the file (data section has ${Math.max(0, dataSize)} bytes)`);
    }
  }
  return { file, fileSize, version, alignment, dataOffset, metadata, tensors: infos };
}

/** Parse and validate the header of a GGUF file held in memory. */
export function parseGgufHeader(bytes: Uint8Array, file: string): GgufHeader {
  try {
    return parseHeaderFrom(bytes, bytes.length, file);
  } catch (e) {
    if (e instanceof NeedMoreBytes) throw new Error("unreachable: whole file given");
    throw e;
  }
}

/** An open GGUF file: its validated header and a way to read one tensor's bytes. */
export interface GgufReader {
  header: GgufHeader;
  /** The tensor's bytes (exactly `nBytes`): read into `into` (at its start) when given, else a fresh array. */
  tensorBytes(t: GgufTensorInfo, into?: Uint8Array): Uint8Array;
  /** Bytes [start, start + into.length) of the tensor's, read into `into`. */
  tensorRange(t: GgufTensorInfo, start: number, into: Uint8Array): void;
  close(): void;
}

/**
 * Open a GGUF file and validate its header, reading only as many bytes as the header needs
 * (the tokenizer arrays make it ~1 MB for Llama-2 vocabularies). Tensor data is read on demand.
 * @throws CheckpointError for a malformed file; the fs error (ENOENT...) if it cannot be opened
 */
export function openGguf(path: string): GgufReader {
  return openGgufSource(fileSource(path));
}

/** As openGguf, over any ByteSource (a browser File, bytes in memory); close() closes the source. */
export function openGgufSource(src: ByteSource): GgufReader {
  try {
    const fileSize = src.size;
    let size = Math.min(fileSize, 1 << 20);
    let header: GgufHeader | undefined;
    while (!header) {
      const buf = src.read(0, size);
      try {
        header = parseHeaderFrom(buf, fileSize, src.name);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        size = Math.min(fileSize, Math.max(e.upTo, size * 2));
      }
    }
    const h = header;
    return {
      header: h,
      tensorBytes: (t, into?: Uint8Array) => src.read(h.dataOffset + t.offset, t.nBytes, into),
      tensorRange: (t, start, into) => {
        if (start < 0 || start + into.length > t.nBytes) throw new RangeError(`${src.name}: tensor "${t.name}": bytes ${start} … ${start + into.length} asked of ${t.nBytes}`);
        src.read(h.dataOffset + t.offset + start, into.length, into);
      },
      close: () => src.close(),
    };
  } catch (e) {
    src.close();
    throw e;
  }
}

/** Look a metadata key up (key order in files is not fixed: llama-quantize moves general.file_type). */
export function ggufGet(h: GgufHeader, key: string): GgufKV | undefined {
  return h.metadata.find((kv) => kv.key === key);
}

export function ggufTypeName(t: GgufValueType): string {
  return TYPE_NAMES[t];
}

// ---------------------------------------------------------------------------------------------------
// Writer

/** A tensor to write: bytes already in the ggml type's layout, `ne` in GGUF order. */
export interface GgufTensorOut { name: string; type: number; ne: number[]; data: Uint8Array }

class ByteSink {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private dv = new DataView(this.cur.buffer);
  private at = 0;
  length = 0;
  private room(n: number): void {
    if (this.at + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.at));
    this.cur = new Uint8Array(Math.max(1 << 16, n));
    this.dv = new DataView(this.cur.buffer);
    this.at = 0;
  }
  u8(v: number) { this.room(1); this.dv.setUint8(this.at, v); this.at += 1; this.length += 1; }
  i8(v: number) { this.room(1); this.dv.setInt8(this.at, v); this.at += 1; this.length += 1; }
  u16(v: number) { this.room(2); this.dv.setUint16(this.at, v, true); this.at += 2; this.length += 2; }
  i16(v: number) { this.room(2); this.dv.setInt16(this.at, v, true); this.at += 2; this.length += 2; }
  u32(v: number) { this.room(4); this.dv.setUint32(this.at, v, true); this.at += 4; this.length += 4; }
  i32(v: number) { this.room(4); this.dv.setInt32(this.at, v, true); this.at += 4; this.length += 4; }
  f32(v: number) { this.room(4); this.dv.setFloat32(this.at, v, true); this.at += 4; this.length += 4; }
  f64(v: number) { this.room(8); this.dv.setFloat64(this.at, v, true); this.at += 8; this.length += 8; }
  u64(v: number | bigint) { this.room(8); this.dv.setBigUint64(this.at, BigInt(v), true); this.at += 8; this.length += 8; }
  i64(v: number | bigint) { this.room(8); this.dv.setBigInt64(this.at, BigInt(v), true); this.at += 8; this.length += 8; }
  bytes(b: Uint8Array) { this.room(b.length); this.cur.set(b, this.at); this.at += b.length; this.length += b.length; }
  string(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); this.bytes(b); }
  finish(): Uint8Array {
    this.chunks.push(this.cur.subarray(0, this.at));
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

function writeValue(s: ByteSink, type: number, v: GgufValue, key: string): void {
  const bad = (): never => { throw new Error(`GGUF writer: metadata "${key}": value ${String(v)} does not fit type ${TYPE_NAMES[type]}`); };
  switch (type) {
    case GgufType.STRING: if (typeof v !== "string") bad(); s.string(v as string); return;
    case GgufType.ARRAY: {
      if (typeof v !== "object") bad();
      const a = v as GgufArray;
      s.u32(a.itemType);
      s.u64(a.items.length);
      for (const item of a.items) writeValue(s, a.itemType, item, key);
      return;
    }
    case GgufType.BOOL: if (typeof v !== "boolean") bad(); s.u8(v ? 1 : 0); return;
    case GgufType.UINT64: s.u64(v as number | bigint); return;
    case GgufType.INT64: s.i64(v as number | bigint); return;
  }
  if (typeof v !== "number") bad();
  const n = v as number;
  switch (type) {
    case GgufType.UINT8: s.u8(n); return;
    case GgufType.INT8: s.i8(n); return;
    case GgufType.UINT16: s.u16(n); return;
    case GgufType.INT16: s.i16(n); return;
    case GgufType.UINT32: s.u32(n); return;
    case GgufType.INT32: s.i32(n); return;
    case GgufType.FLOAT32: s.f32(n); return;
    case GgufType.FLOAT64: s.f64(n); return;
  }
  bad();
}

/**
 * Serialize the header (magic, counts, metadata, tensor directory, padding) for the given tensors,
 * and return it with each tensor's offset in the data section (in the given order, each aligned).
 */
export function encodeGgufHeader(metadata: GgufKV[], tensors: Array<Omit<GgufTensorOut, "data"> & { nBytes: number }>,
  alignment = GGUF_DEFAULT_ALIGNMENT): { header: Uint8Array; offsets: number[] } {
  const s = new ByteSink();
  s.bytes(new TextEncoder().encode(GGUF_MAGIC));
  s.u32(GGUF_VERSION);
  s.u64(tensors.length);
  s.u64(metadata.length);
  for (const kv of metadata) {
    s.string(kv.key);
    s.u32(kv.type);
    writeValue(s, kv.type, kv.value, kv.key);
  }
  const offsets: number[] = [];
  let off = 0;
  for (const t of tensors) {
    const info = ggmlTypeInfo(t.type);
    if (!info) throw new Error(`GGUF writer: tensor "${t.name}" has unknown ggml type ${t.type}`);
    s.string(t.name);
    s.u32(t.ne.length);
    for (const n of t.ne) s.u64(n);
    s.u32(t.type);
    s.u64(off);
    offsets.push(off);
    off += Math.ceil(t.nBytes / alignment) * alignment;
  }
  const pad = Math.ceil(s.length / alignment) * alignment - s.length;
  s.bytes(new Uint8Array(pad));
  return { header: s.finish(), offsets };
}

/**
 * Write a GGUF v3 file atomically (temp name, then rename). Tensors are written in the given order, each padded to
 * `alignment` (a `general.alignment` key must be in `metadata` when it is not 32).
 */
export function writeGgufFile(path: string, metadata: GgufKV[], tensors: GgufTensorOut[], alignment = GGUF_DEFAULT_ALIGNMENT): void {
  for (const t of tensors) {
    const info = ggmlTypeInfo(t.type);
    if (!info) throw new Error(`GGUF writer: tensor "${t.name}" has unknown ggml type ${t.type}`);
    const count = t.ne.reduce((a, b) => a * b, 1);
    const expected = (count / info.blockSize) * info.typeSize;
    if (t.ne[0] % info.blockSize !== 0 || t.data.length !== expected) {
      throw new Error(`GGUF writer: tensor "${t.name}" ${info.name} [${t.ne.join(", ")}] needs ${expected} bytes, got ${t.data.length}`);
    }
  }
  const { header } = encodeGgufHeader(metadata, tensors.map((t) => ({ ...t, nBytes: t.data.length })), alignment);
  const zeros = new Uint8Array(alignment);
  const parts: Uint8Array[] = [header];
  for (const t of tensors) {
    parts.push(t.data);
    const pad = Math.ceil(t.data.length / alignment) * alignment - t.data.length;
    if (pad) parts.push(zeros.subarray(0, pad));
  }
  writeFileAtomic(path, parts);
}
