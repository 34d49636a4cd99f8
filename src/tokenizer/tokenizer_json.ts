// A Hugging Face tokenizer.json for a SentencePiece BPE vocabulary (Llama-2 style: BPE with byte_fallback,
// normalizer Prepend "▁" + Replace " " -> "▁") turned into the equivalent SentencePiece model, so the one
// exact SentencePiece engine serves it too. BPE merge order becomes piece scores (merge rank r -> score -r):
// SentencePiece merges the highest-scoring piece first, HF the lowest-ranked merge, so both pick the same.

import { TokenizerError } from "../errors.js";
import { TokenType, tokenizerModelFromVocab, type GgufVocab } from "../io/gguf_vocab.js";

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]>; byte_fallback?: boolean; unk_token?: string };
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
}

/** The SentencePiece ModelProto bytes equivalent to a tokenizer.json. Throws TokenizerError naming what is unsupported. */
export function tokenizerModelFromJson(json: unknown, file: string): Uint8Array {
  return tokenizerModelFromVocab(vocabFromTokenizerJson(json, file));
}

/** The vocabulary of a tokenizer.json as GGUF holds one (pieces, scores from merge ranks, token types). */
export function vocabFromTokenizerJson(json: unknown, file: string): GgufVocab {
  const j = json as TokenizerJson;
  const m = j?.model;
  if (!m || m.type !== "BPE" || !m.vocab || !Array.isArray(m.merges))
    throw new TokenizerError(`${file}: expected a BPE model with "vocab" and "merges" (a SentencePiece-style tokenizer.json), got model.type ${JSON.stringify(m?.type)}`);
  if (!m.byte_fallback) throw new TokenizerError(`${file}: model.byte_fallback is false; only SentencePiece-style BPE with byte fallback is supported`);
  const n = Object.keys(m.vocab).length;
  const tokens = new Array<string>(n);
  for (const [piece, id] of Object.entries(m.vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= n || tokens[id] !== undefined)
      throw new TokenizerError(`${file}: model.vocab maps ${JSON.stringify(piece)} to id ${id}; ids must be 0 … ${n - 1}, each once`);
    tokens[id] = piece;
  }
  const scores = new Float32Array(n);
  const seen = new Uint8Array(n);
  m.merges.forEach((mg, rank) => {
    const [a, b] = Array.isArray(mg) ? mg : mg.split(" ");
    const id = m.vocab![a + b];
    if (id === undefined) throw new TokenizerError(`${file}: merge #${rank} ${JSON.stringify(mg)} makes a piece not in model.vocab`);
    if (!seen[id]) { seen[id] = 1; scores[id] = -rank; }
  });
  const special = new Map((j.added_tokens ?? []).filter((t) => t.special).map((t) => [t.id, t.content]));
  const tokenTypes = new Int32Array(n).map((_, id) => {
    const p = tokens[id];
    if (p === (m.unk_token ?? "<unk>")) return TokenType.UNKNOWN;
    if (special.has(id)) return TokenType.CONTROL;
    if (/^<0x[0-9A-F]{2}>$/.test(p)) return TokenType.BYTE;
    return TokenType.NORMAL;
  });
  for (let id = 0; id < n; id++) if (tokenTypes[id] !== TokenType.NORMAL) scores[id] = 0;
  return { model: "llama", tokens, scores, tokenTypes, bosId: 1, eosId: 2 };
}
