// Every request of the lm-eval reference: context and continuation strings, token ids (BOS on both encodings,
// whitespace moved into the continuation, split on the joint encoding), input length and left truncation.
import { describe, expect, test } from "vitest";
import { encodePair, modelInput } from "../../src/eval/requests.js";
import { pythonLen, pythonRstrip, pythonSplitCount } from "../../src/eval/python_str.js";
import { hellaswagPreprocess } from "../../src/eval/tasks/hellaswag.js";
import { expected, MAX_LENGTH, prepareVariant, tokenizer, variants } from "./fixture.js";

describe("requests match lm-eval", () => {
  for (const v of variants) {
    test(`${v.task} ${v.variant}: strings, ids, input_len, truncated, gold`, () => {
      const p = prepareVariant(v);
      expect(p.numFewshot).toBe(v.num_fewshot);
      v.docs.forEach((ed, i) => {
        const d = p.docs[i];
        expect(d.docIndex).toBe(ed.doc_index);
        if (ed.gold !== undefined) expect(d.gold).toBe(ed.gold);
        if (ed.choice_chars) expect(d.choices.map(pythonLen)).toEqual(ed.choice_chars);
        expect(d.requests.length).toBe(ed.requests.length);
        ed.requests.forEach((er: any, j: number) => {
          const r = d.requests[j];
          expect(r.context).toBe(er.context);
          expect(r.continuation).toBe(er.continuation);
          if (er.encoded_context !== undefined) {
            expect(r.encodedContext).toBe(er.encoded_context);
            expect(r.encodedContinuation).toBe(er.encoded_continuation);
          }
          expect(r.contextIds).toEqual(er.context_ids);
          expect(r.continuationIds).toEqual(er.continuation_ids);
          const { input, truncated } = modelInput(r.contextIds, r.continuationIds, MAX_LENGTH);
          expect(input.length).toBe(er.input_len);
          expect(truncated).toBe(er.truncated);
        });
      });
    });
  }

  test("encode_pair corner cases (whitespace move, no delimiter, boundary re-tokenisation, byte fallback)", () => {
    for (const c of expected.encode_pair_cases) {
      const r = encodePair(tokenizer, c.context, c.continuation);
      expect(r.encodedContext).toBe(c.encoded_context);
      expect(r.encodedContinuation).toBe(c.encoded_continuation);
      expect(r.contextIds).toEqual(c.context_ids);
      expect(r.continuationIds).toEqual(c.continuation_ids);
    }
  });

  test("greedy probes: context ids with BOS", () => {
    for (const g of expected.greedy_probes) expect(tokenizer.encode(g.context, { bos: true })).toEqual(g.context_ids);
  });

  test("an empty context is [EOS] and the continuation is encoded alone (HFLM.loglikelihood)", () => {
    const r = encodePair(tokenizer, "", "Hello");
    expect(r.contextIds).toEqual([2]);
    expect(r.continuationIds).toEqual(tokenizer.encode("Hello", { bos: true }));
  });

  test("Python whitespace, lengths and word splits", () => {
    expect(pythonRstrip("a \t\n\u00a0\u3000\x1c\x85")).toBe("a");
    expect(pythonRstrip("a\ufeff")).toBe("a\ufeff"); // not whitespace for Python
    expect(pythonLen("gröẞe 😀")).toBe(7);
    expect(pythonSplitCount(" a  b\n")).toBe(4); // ['', 'a', 'b', '']
    expect(hellaswagPreprocess("  [header] How to cook [title] Pasta  [step]  Boil water.  ")).toBe(" How to cook. Pasta  Boil water.");
  });
});
