// Llama-2 tokenizer against the reference SentencePiece cases (test/fixtures/tokenizer/llama2, from ../shared).
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { StreamDecoder } from "../../src/tokenizer/stream_decoder.js";

const dir = new URL("../fixtures/tokenizer/llama2/", import.meta.url).pathname;
const lines = (f: string) => fs.readFileSync(dir + f, "utf-8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

describe("Llama-2 tokenizer", async () => {
  const tok = await loadTokenizer();
  test("vocabulary size and special ids", () => {
    expect(tok.vocabSize).toBe(32000);
    expect([tok.unkId, tok.bosId, tok.eosId]).toEqual([0, 1, 2]);
  });
  test("355/355 encode cases exact (no BOS), BOS prepended by default", () => {
    const cases = lines("cases.jsonl");
    expect(cases.length).toBe(355);
    const wrong = cases.filter((c) => JSON.stringify(tok.encode(c.text, { bos: false })) !== JSON.stringify(c.ids));
    expect(wrong.map((c) => c.text)).toEqual([]);
    expect(tok.encode("Hello world")).toEqual([1, 15043, 3186]);
    expect(tok.encode("")).toEqual([1]);
  });
  test("decode of every encode case equals SentencePiece's decode", () => {
    for (const c of lines("cases.jsonl")) expect(tok.decode(c.ids)).toBe(c.decoded);
  });
  test("24/24 decode cases exact (control pieces, <unk>, invalid UTF-8 bytes)", () => {
    const cases = lines("decode_cases.jsonl");
    expect(cases.length).toBe(24);
    for (const c of cases) expect(tok.decode(c.ids), c.note).toBe(c.decoded);
  });
  test("ids out of range are a TokenizerError naming the id", () => {
    expect(() => tok.decode([1, 32000])).toThrow("token id 32000 at index 1 is out of range: the vocabulary has ids 0 … 31999");
  });
  test("streaming never emits half a UTF-8 character and reassembles the full text", () => {
    for (const text of ["你好，世界 🌍 café", "emoji 👩‍👩‍👧 ok", "plain words here"]) {
      const ids = tok.encode(text, { bos: false });
      const dec = new StreamDecoder(tok, 1);
      let out = "";
      for (const id of ids) {
        const piece = dec.push(id);
        expect(piece.includes("\uFFFD")).toBe(false);
        out += piece;
      }
      out += dec.flush();
      expect(out).toBe(text);
    }
  });
  // continuation() answers most ids from a table; the reference is SentencePiece's decode of the pair
  test("the text each of the 32,000 ids adds after a plain, a byte, an <unk>, a control and a half-character piece equals SentencePiece's", () => {
    const anchors = [450 /* ▁The */, 29889 /* . */, 3 + 0x41 /* <0x41> */, 3 + 0xe4 /* <0xE4>, a lead byte alone */, 3 + 0xc3 /* <0xC3>: with <0xA9> "é" */, 0 /* <unk> */, 2 /* </s> */, 1 /* <s> */];
    for (const a of anchors) {
      const before = tok.decode([a]).length;
      const wrong: number[] = [];
      for (let id = 0; id < tok.vocabSize; id++) if (tok.continuation(a, id) !== tok.decode([a, id]).slice(before)) wrong.push(id);
      expect(wrong, `after ${a}`).toEqual([]);
    }
  });
  test("streaming gives the pieces of decoding each token after its anchor in SentencePiece, on all encode and decode cases", () => {
    /** The streaming rule with a SentencePiece call per piece (no tables). */
    const reference = (ids: number[], prev: number) => {
      const out: string[] = [];
      let pending: number[] = [];
      for (const id of ids) {
        pending.push(id);
        const text = tok.decode([prev, ...pending]).slice(tok.decode([prev]).length);
        if (text.endsWith("\uFFFD") && pending.length < 4) { out.push(""); continue; }
        out.push(text);
        prev = id;
        pending = [];
      }
      out.push(pending.length ? tok.decode([prev, ...pending]).slice(tok.decode([prev]).length) : "");
      return out;
    };
    const cases = [...lines("cases.jsonl"), ...lines("decode_cases.jsonl")];
    for (const c of cases) for (const prev of [1, 450]) {
      const dec = new StreamDecoder(tok, prev);
      expect([...c.ids.map((id: number) => dec.push(id)), dec.flush()], JSON.stringify(c.ids)).toEqual(reference(c.ids, prev));
    }
  });
});

describe("a checkpoint's own tokenizer.json", async () => {
  const tok = await loadTokenizer(dir + "tokenizer.json");
  test("encodes all 355 cases exactly like SentencePiece, and decodes the 24 decode cases", () => {
    for (const c of lines("cases.jsonl")) expect(tok.encode(c.text, { bos: false }), c.text).toEqual(c.ids);
    for (const c of lines("decode_cases.jsonl")) expect(tok.decode(c.ids), c.note).toBe(c.decoded);
  });
  test("a tokenizer.json that is not SentencePiece-style BPE is refused by name", async () => {
    const f = `${os.tmpdir()}/wordpiece-tokenizer.json`;
    fs.writeFileSync(f, JSON.stringify({ model: { type: "WordPiece", vocab: {} } }));
    await expect(loadTokenizer(f)).rejects.toThrow(`${f}: expected a BPE model with "vocab" and "merges" (a SentencePiece-style tokenizer.json), got model.type "WordPiece"`);
  });
});
