// The Llama-2 SentencePiece tokenizer (BPE, byte fallback, 32000 pieces) that OpenELM uses.
// Encoding and decoding run in SentencePiece itself, compiled to WebAssembly (@sctg/sentencepiece-js):
// it is exact on all 355 encode and 24 decode reference cases, where the pure-JS ports differ on special
// tokens and on invalid UTF-8 (see README "Tokenizer"). The model file ships in assets/ because the
// apple repos have none and Meta's is gated.

import * as fs from "node:fs";
import * as path from "node:path";
import { SentencePieceProcessor } from "@sctg/sentencepiece-js";
import { TokenizerError } from "../errors.js";
import { BUNDLED_TOKENIZER_MODEL, protoFields, tokenizerModelFromVocabOn } from "../io/gguf_vocab.js";
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

  private constructor(private readonly sp: SentencePieceProcessor, readonly vocabSize: number, readonly source: string) {}

  /** A SentencePiece ModelProto held in memory (file names where it came from, for errors). */
  static async fromModelBytes(bytes: Uint8Array, file: string): Promise<Tokenizer> {
    const size = countPieces(bytes, file); // the processor reports no size; count the repeated pieces field
    const sp = new SentencePieceProcessor();
    // The public loaders take a path or base64 text and decode it with Node's Buffer, absent in browsers;
    // the module's own loader behind them takes the bytes (pinned by package-lock.json).
    try { await (sp as unknown as { _loadModel(b: Uint8Array): Promise<void> })._loadModel(bytes); } catch (e) {
      throw new TokenizerError(`${file}: not a SentencePiece model (${(e as Error).message ?? e})`);
    }
    return new Tokenizer(sp, size, file);
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
    return this.sp.decodeIds(Int32Array.from(ids as ArrayLike<number>)) as string;
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

/** Number of pieces in a SentencePiece ModelProto (repeated field 1, length-delimited). */
function countPieces(b: Uint8Array, file: string): number {
  const n = protoFields(b, file).filter((f) => f.field === 1 && f.wire === 2).length;
  if (n === 0) throw new TokenizerError(`${file}: no pieces found (not a SentencePiece model?)`);
  return n;
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
