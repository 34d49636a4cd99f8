// The SentencePiece vocabulary as GGUF stores it (tokenizer.ggml.tokens / scores / token_type), and the
// conversion to and from a SentencePiece tokenizer.model protobuf (ModelProto).
// References: llama.cpp convert_hf_to_gguf.py (_create_vocab_sentencepiece); sentencepiece_model.proto.
//
// ModelProto: field 1 = repeated SentencePiece {1: piece string, 2: score float, 3: type enum (NORMAL = 1
// is left out)}, 2 = TrainerSpec, 3 = NormalizerSpec. GGUF keeps only the pieces, so a tokenizer.model is
// rebuilt from the GGUF pieces plus the trainer/normalizer specs of a template model (the bundled Llama-2
// tokenizer.model, which is what OpenELM uses): for a Llama-2 vocabulary this gives the original file
// byte for byte.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TokenizerError } from "../errors.js";

/** GGUF / SentencePiece token types (they share the numbering). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A SentencePiece vocabulary in GGUF form. */
export interface GgufVocab {
  /** tokenizer.ggml.model: "llama" for SentencePiece BPE. */
  model: string;
  tokens: string[];
  scores: Float32Array;
  tokenTypes: Int32Array;
  bosId: number;
  eosId: number;
  unkId?: number;
  padId?: number;
}

/** The bundled Llama-2 tokenizer.model (OpenELM's tokenizer). */
// (pure: a browser bundle that never reads the file drops it)
export const BUNDLED_TOKENIZER_MODEL = /* @__PURE__ */ (() => fileURLToPath(new URL("../../assets/tokenizer/llama2/tokenizer.model", import.meta.url)))();

export interface ProtoField { field: number; wire: number; start: number; end: number; value: number }

/** Top-level fields of a protobuf message (only the wire types ModelProto uses: varint, fixed32/64, bytes). */
export function protoFields(b: Uint8Array, file: string): ProtoField[] {
  const out: ProtoField[] = [];
  let i = 0;
  const varint = (): number => {
    let r = 0, mul = 1;
    for (let k = 0; k < 10; k++) {
      if (i >= b.length) throw new TokenizerError(`${file}: truncated protobuf varint at byte ${i}`);
      const c = b[i++];
      r += (c & 0x7f) * mul;
      mul *= 128;
      if (c < 0x80) return r;
    }
    throw new TokenizerError(`${file}: protobuf varint longer than 10 bytes at byte ${i}`);
  };
  while (i < b.length) {
    const start = i;
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    let value = 0;
    if (wire === 0) value = varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      value = i;
      i += len;
    } else throw new TokenizerError(`${file}: unsupported protobuf wire type ${wire} at byte ${start}`);
    if (i > b.length) throw new TokenizerError(`${file}: protobuf field ${field} at byte ${start} runs past the end (${b.length} bytes)`);
    out.push({ field, wire, start, end: i, value });
  }
  return out;
}

/**
 * Read the vocabulary of a SentencePiece tokenizer.model as llama.cpp's converter puts it in a GGUF:
 * USER_DEFINED pieces become NORMAL (the converter only distinguishes unknown, control, unused and byte).
 * @throws TokenizerError when the file is not a ModelProto
 */
export function vocabFromTokenizerModel(bytes: Uint8Array, file: string, ids: { bosId?: number; eosId?: number } = {}): GgufVocab {
  const tokens: string[] = [], scores: number[] = [], types: number[] = [];
  const dec = new TextDecoder("utf-8", { ignoreBOM: true }); // a piece may be U+FEFF itself
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const f of protoFields(bytes, file)) {
    if (f.field !== 1) continue;
    if (f.wire !== 2) throw new TokenizerError(`${file}: ModelProto field 1 (pieces) has wire type ${f.wire}, expected 2`);
    const sub = bytes.subarray(f.value, f.end);
    let piece: string | undefined, score = 0, type: number = TokenType.NORMAL;
    for (const g of protoFields(sub, file)) {
      if (g.field === 1 && g.wire === 2) piece = dec.decode(sub.subarray(g.value, g.end));
      else if (g.field === 2 && g.wire === 5) score = dv.getFloat32(f.value + g.start + 1, true);
      else if (g.field === 3 && g.wire === 0) type = g.value;
    }
    if (piece === undefined) throw new TokenizerError(`${file}: piece #${tokens.length} has no text`);
    tokens.push(piece);
    scores.push(score);
    types.push(type === TokenType.USER_DEFINED ? TokenType.NORMAL : type);
  }
  if (tokens.length === 0) throw new TokenizerError(`${file}: no pieces found (not a SentencePiece tokenizer.model?)`);
  const unk = types.indexOf(TokenType.UNKNOWN);
  return {
    model: "llama", tokens, scores: Float32Array.from(scores), tokenTypes: Int32Array.from(types),
    bosId: ids.bosId ?? 1, eosId: ids.eosId ?? 2, unkId: unk >= 0 ? unk : undefined,
  };
}

/** Read a tokenizer.model file's vocabulary (default: the bundled Llama-2 one). */
export function readTokenizerModelVocab(path = BUNDLED_TOKENIZER_MODEL): GgufVocab {
  let bytes: Uint8Array;
  try { bytes = readFileSync(path); } catch (e) {
    throw new TokenizerError(`${path}: cannot read tokenizer.model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return vocabFromTokenizerModel(bytes, path);
}

/**
 * Rebuild a tokenizer.model from a GGUF vocabulary: its pieces, then the trainer and normalizer specs of
 * `template` (default: the bundled Llama-2 tokenizer.model). Only valid for SentencePiece ("llama") vocabularies.
 * @throws TokenizerError for another tokenizer model type
 */
export function tokenizerModelFromVocab(v: GgufVocab, templatePath = BUNDLED_TOKENIZER_MODEL): Uint8Array {
  checkSentencePiece(v);
  return tokenizerModelFromVocabOn(v, readFileSync(templatePath), templatePath);
}

function checkSentencePiece(v: GgufVocab): void {
  if (v.model !== "llama") {
    throw new TokenizerError(`tokenizer.ggml.model is "${v.model}", only SentencePiece ("llama") vocabularies can be used`);
  }
}

/** As tokenizerModelFromVocab, with the template's bytes (templatePath names them in errors). */
export function tokenizerModelFromVocabOn(v: GgufVocab, template: Uint8Array, templatePath: string): Uint8Array {
  checkSentencePiece(v);
  const enc = new TextEncoder();
  const parts: number[] = [];
  const varint = (n: number) => { while (n >= 0x80) { parts.push((n % 128) | 0x80); n = Math.floor(n / 128); } parts.push(n); };
  const f32 = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < v.tokens.length; i++) {
    const p = enc.encode(v.tokens[i]);
    const type = v.tokenTypes[i];
    const lenBytes = p.length < 128 ? 1 : p.length < 16384 ? 2 : 3;
    const inner = 1 + lenBytes + p.length + 5 + (type !== TokenType.NORMAL ? 2 : 0);
    parts.push(0x0a); varint(inner);
    parts.push(0x0a); varint(p.length);
    for (const byte of p) parts.push(byte);
    f32.setFloat32(0, v.scores[i], true);
    parts.push(0x15, f32.getUint8(0), f32.getUint8(1), f32.getUint8(2), f32.getUint8(3));
    if (type !== TokenType.NORMAL) parts.push(0x18, type);
  }
  const pieces = Uint8Array.from(parts);
  const specs = protoFields(template, templatePath).filter((f) => f.field !== 1);
  const specBytes = specs.map((f) => template.subarray(f.start, f.end));
  const out = new Uint8Array(pieces.length + specBytes.reduce((a, b) => a + b.length, 0));
  out.set(pieces, 0);
  let o = pieces.length;
  for (const s of specBytes) { out.set(s, o); o += s.length; }
  return out;
}
