// The Llama-2 SentencePiece tokenizer (BPE, byte fallback, 32000 pieces) that OpenELM uses.
// Encoding and decoding run in SentencePiece itself, compiled to WebAssembly (@sctg/sentencepiece-js):
// it is exact on all 355 encode and 24 decode reference cases, where the pure-JS ports differ on special
// tokens and on invalid UTF-8 (see README "Tokenizer"). The model file ships in assets/ because the
// apple repos have none and Meta's is gated.

import * as fs from "node:fs";
import * as path from "node:path";
import type { SentencePieceProcessor } from "@sctg/sentencepiece-js";
import { TokenizerError } from "../errors.js";
import { BUNDLED_TOKENIZER_MODEL, protoFields, tokenizerModelFromVocabOn, TokenType } from "../io/gguf_vocab.js";
import { tokenizerModelFromJson, vocabFromTokenizerJson } from "./tokenizer_json.js";
import { readText, type ModelFiles } from "../io/byte_source.js";

/** The bundled Llama-2 tokenizer.model (assets/tokenizer/llama2). */
export const BUNDLED_TOKENIZER = BUNDLED_TOKENIZER_MODEL;

export interface EncodeOptions {
  /** Prepend BOS (id 1) as HF's LlamaTokenizer does with add_bos_token=True. Default true. */
  bos?: boolean;
}

export class Tokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  readonly unkId = 0;

  /** decode([id]) by id, filled as ids come. */
  private readonly single: Array<string | undefined>;
  /** The text id adds after text that is not empty (see continuation), by id, filled as ids come. */
  private readonly after: Array<string | undefined>;
  /** A piece whose text alone is not empty, decoded before an id to get its text mid-sentence; -1 until found. */
  private lead = -1;

  private constructor(private readonly sp: SentencePieceProcessor, readonly vocabSize: number, readonly source: string,
    /** Byte-fallback pieces (<0x00> … <0xFF>): their text depends on the bytes beside them. */
    private readonly bytePiece: Uint8Array) {
    this.single = new Array(vocabSize);
    this.after = new Array(vocabSize);
  }

  /** A SentencePiece ModelProto held in memory (file names where it came from, for errors). */
  static async fromModelBytes(bytes: Uint8Array, file: string): Promise<Tokenizer> {
    const types = pieceTypes(bytes, file); // the processor reports no size; count the repeated pieces field
    const size = types.length;
    // Imported here, not at the top: the module (its WebAssembly inlined) adds ~16 MiB of resident memory to
    // every process that imports this file, also those that never tokenize (bench, quantize).
    const { SentencePieceProcessor } = await import("./sentencepiece_module.js");
    const sp = new SentencePieceProcessor();
    // The public loaders take a path or base64 text and decode it with Node's Buffer, absent in browsers;
    // the module's own loader behind them takes the bytes (pinned by package-lock.json).
    try { await (sp as unknown as { _loadModel(b: Uint8Array): Promise<void> })._loadModel(bytes); } catch (e) {
      throw new TokenizerError(`${file}: not a SentencePiece model (${(e as Error).message ?? e})`);
    }
    return new Tokenizer(sp, size, file, Uint8Array.from(types, (t) => (t === TokenType.BYTE ? 1 : 0)));
  }

  /** Token ids of text (SentencePiece defaults: dummy prefix space, byte fallback), BOS first unless bos: false. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = text === "" ? [] : (this.sp.encodeIds(text) as number[]);
    return opts.bos === false ? ids : [this.bosId, ...ids];
  }

  /** Text of ids as SentencePiece decodes it: control pieces vanish, <unk> is " ⁇ ", bad UTF-8 bytes are U+FFFD each. */
  decode(ids: ArrayLike<number>): string {
    for (let i = 0; i < ids.length; i++)
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= this.vocabSize)
        throw new TokenizerError(`token id ${ids[i]} at index ${i} is out of range: the vocabulary has ids 0 … ${this.vocabSize - 1}`);
    if (ids.length === 0) return "";
    if (ids.length === 1) return (this.single[ids[0]] ??= this.sp.decodeIds(Int32Array.of(ids[0])) as string);
    return this.sp.decodeIds(Int32Array.from(ids as ArrayLike<number>)) as string;
  }

  /**
   * The text `id` adds after `prev`: decode([prev, id]) less decode([prev]), as a streaming decoder needs it a
   * token. Where it cannot depend on prev, from a table filled as ids come (one SentencePiece call per new id
   * instead of two a token): SentencePiece decodes each piece on its own (control pieces vanish, <unk> is " ⁇ ",
   * "▁" is a space) except that a leading "▁" is dropped while the text is still empty, and byte-fallback
   * pieces join their neighbours into UTF-8 characters. So with prev's text not empty and id not a byte piece,
   * the text is the same after any such prev.
   */
  continuation(prev: number, id: number): string {
    const prevText = this.decode([prev]);
    if (prevText === "" || this.bytePiece[id] || !Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      return this.decode([prev, id]).slice(prevText.length);
    let t = this.after[id];
    if (t === undefined) {
      if (this.lead < 0) this.lead = this.findLead();
      t = this.after[id] = this.decode([this.lead, id]).slice(this.decode([this.lead]).length);
    }
    return t;
  }

  /** The first piece that is not a byte piece and whose text alone is not empty. */
  private findLead(): number {
    for (let i = 0; i < this.vocabSize; i++) if (!this.bytePiece[i] && this.decode([i]) !== "") return i;
    throw new TokenizerError(`${this.source}: no piece decodes to text`);
  }
}

/**
 * The tokenizer of a model folder however it is held: its tokenizer.model, else its tokenizer.json, else
 * `bundled` (the Llama-2 tokenizer.model bytes).
 */
export async function tokenizerFromFiles(files: ModelFiles, bundled: () => Uint8Array | Promise<Uint8Array>): Promise<Tokenizer> {
  if (files.has("tokenizer.model")) {
    const src = files.open("tokenizer.model");
    try { return await Tokenizer.fromModelBytes(src.read(0, src.size), src.name); } finally { src.close(); }
  }
  if (files.has("tokenizer.json")) {
    const file = files.path("tokenizer.json");
    let json: unknown;
    try { json = JSON.parse(readText(files, "tokenizer.json")); } catch (e) {
      throw new TokenizerError(`${file}: cannot read tokenizer.json (${(e as Error).message})`);
    }
    return Tokenizer.fromModelBytes(tokenizerModelFromVocabOn(vocabFromTokenizerJson(json, file), await bundled(), "bundled tokenizer.model"), file);
  }
  return Tokenizer.fromModelBytes(await bundled(), "bundled Llama-2 tokenizer.model");
}

/** The type of each piece of a SentencePiece ModelProto (repeated field 1, its field 3; NORMAL when absent). */
function pieceTypes(b: Uint8Array, file: string): number[] {
  const types: number[] = [];
  for (const f of protoFields(b, file)) {
    if (f.field !== 1 || f.wire !== 2) continue;
    types.push(f.end - f.value > 0 ? pieceType(b, f.value, f.end, file) : TokenType.NORMAL);
  }
  if (types.length === 0) throw new TokenizerError(`${file}: no pieces found (not a SentencePiece model?)`);
  return types;
}

/** Field 3 of one piece at b[start … end): read in place for the usual layout (1 text, 2 score, 3 type), else parsed. */
function pieceType(b: Uint8Array, start: number, end: number, file: string): number {
  let i = start;
  const varint = () => { let v = 0, mul = 1, c: number; do { c = b[i++]; v += (c & 0x7f) * mul; mul *= 128; } while (c & 0x80 && i < end); return v; };
  let type: number = TokenType.NORMAL;
  while (i < end) {
    const key = b[i++];
    if (key === 0x0a) { const n = varint(); i += n; } // 1: the piece's text
    else if (key === 0x15) i += 4; // 2: score, float
    else if (key === 0x18) type = varint(); // 3: type
    else { // another layout: the general parser
      for (const g of protoFields(b.subarray(start, end), file)) if (g.field === 3 && g.wire === 0) type = g.value;
      return type;
    }
  }
  return type;
}

/** Load a SentencePiece .model file (default: the bundled Llama-2 tokenizer). */
async function readModelFile(file = BUNDLED_TOKENIZER): Promise<Tokenizer> {
  let bytes: Buffer;
  try { bytes = fs.readFileSync(file); } catch (e) {
    throw new TokenizerError(`${file}: cannot read tokenizer model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return Tokenizer.fromModelBytes(bytes, file);
}

/** A Hugging Face tokenizer.json of a SentencePiece-style BPE vocabulary (see tokenizer_json.ts). */
async function readTokenizerJson(file: string): Promise<Tokenizer> {
  let json: unknown;
  try { json = JSON.parse(fs.readFileSync(file, "utf-8")); } catch (e) {
    throw new TokenizerError(`${file}: cannot read tokenizer.json (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return Tokenizer.fromModelBytes(tokenizerModelFromJson(json, file), file);
}

/**
 * Load the tokenizer for a model: for a directory, its own tokenizer.model, else its tokenizer.json, else the
 * bundled Llama-2 tokenizer; for a file, that .model or tokenizer.json; with nothing, the bundled one.
 */
export async function loadTokenizer(pathOrDir?: string): Promise<Tokenizer> {
  if (!pathOrDir) return readModelFile();
  if (fs.existsSync(pathOrDir) && fs.statSync(pathOrDir).isDirectory()) {
    const own = path.join(pathOrDir, "tokenizer.model"), json = path.join(pathOrDir, "tokenizer.json");
    if (fs.existsSync(own)) return readModelFile(own);
    if (fs.existsSync(json)) return readTokenizerJson(json);
    return readModelFile(BUNDLED_TOKENIZER);
  }
  if (pathOrDir.endsWith(".json")) return readTokenizerJson(pathOrDir);
  return readModelFile(pathOrDir);
}

/**
 * The tokenizer of a checkpoint at `where`: the vocabulary a GGUF file embeds (`embedded`), else for a
 * directory its own tokenizer.model / tokenizer.json, else the bundled Llama-2 one.
 */
export async function checkpointTokenizer(where: string, embedded?: Uint8Array): Promise<Tokenizer> {
  if (embedded) return Tokenizer.fromModelBytes(embedded, where);
  return loadTokenizer(where.endsWith(".gguf") ? undefined : where);
}
