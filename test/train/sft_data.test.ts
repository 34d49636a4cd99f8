// SFT and preference data: every public format parsed into conversations, rendered with the Zephyr template and
// tokenised so that exactly the assistant replies (and the EOS closing each) are scored.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { encodeConversation, encodePreference, IGNORE_INDEX, readPreferenceFile, readSftFile } from "../../src/train/sft_data.js";
import { encodeChatPrompt, renderChat, type ChatMessage } from "../../src/tokenizer/chat_template.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";

const fx = (f: string) => new URL(`../fixtures/finetune/${f}`, import.meta.url).pathname;
const tmpFile = (name: string, text: string) => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sft-")), name);
  fs.writeFileSync(f, text);
  return f;
};
const tok = await loadTokenizer();

/** The scored spans of an example, decoded: one string per run of labelled positions. */
function scoredSpans(ids: number[], labels: number[]): number[][] {
  const spans: number[][] = [];
  let cur: number[] | null = null;
  labels.forEach((l, i) => {
    if (l === IGNORE_INDEX) { cur = null; return; }
    expect(l).toBe(ids[i]);
    if (!cur) { cur = []; spans.push(cur); }
    cur.push(l);
  });
  return spans;
}

/** Rule: each assistant reply is scored as its own tokens plus EOS, and the ids are the whole Zephyr rendering. */
function checkEncoding(messages: ChatMessage[], last = false) {
  const { ids, labels } = encodeConversation(tok, messages, { score: last ? "last" : "all" });
  expect(ids).toEqual(encodeChatPrompt(tok, renderChat(messages, { addGenerationPrompt: false })));
  const replies = messages.filter((m, k) => m.role === "assistant" && k > 0).map((m) => m.content);
  const spans = scoredSpans(ids, labels);
  expect(spans.length).toBe(last ? 1 : replies.length);
  const want = last ? replies.slice(-1) : replies;
  spans.forEach((s, i) => {
    expect(s[s.length - 1]).toBe(tok.eosId);
    expect(tok.decode(s.slice(0, -1)).trim()).toBe(want[i].trim());
  });
}

describe("SFT data", () => {
  test("Dolly open_qa transcripts", () => {
    const ex = readSftFile(fx("dolly_openqa.jsonl"));
    expect(ex.length).toBe(3);
    expect(ex[0].messages).toEqual([
      { role: "user", content: "Why can camels survive for long without water?" },
      { role: "assistant", content: "Camels use the fat in their humps to keep them filled with energy and hydration for long periods of time." }]);
    expect(ex[2].where).toMatch(/dolly_openqa\.jsonl:3$/);
    for (const e of ex) checkEncoding(e.messages);
  });

  test("GSM8K, self-instruct seeds, LLM-Adapters", () => {
    const g = readSftFile(fx("gsm8k.jsonl"));
    expect(g[1].messages[1].content.endsWith("#### 10")).toBe(true);
    const s = readSftFile(fx("self_instruct_seed.jsonl"));
    expect(s[1].messages[0].content).toBe("What is the relation between the given pairs?\n\nNight : Day :: Right : Left");
    const a = readSftFile(fx("llm_adapters_arc_easy_train.json"));
    expect(a[0].where).toMatch(/llm_adapters_arc_easy_train\.json\[0\]$/);
    expect(a[0].messages[1].content).toMatch(/^the correct answer is answer\d$/);
    for (const e of [...g, ...s, ...a]) checkEncoding(e.messages);
  });

  test("Dolly 15k fields and chat messages (several turns, a system message)", () => {
    const file = tmpFile("mixed.jsonl", [
      JSON.stringify({ instruction: "Summarise.", context: "A long text.", response: "Short.", category: "summarization" }),
      JSON.stringify({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" }, { role: "user", content: "2+2?" }, { role: "assistant", content: "4" }] }),
    ].join("\n") + "\n");
    const ex = readSftFile(file);
    expect(ex[0].messages[0].content).toBe("Summarise.\n\nA long text.");
    checkEncoding(ex[0].messages);
    checkEncoding(ex[1].messages);
    checkEncoding(ex[1].messages, true);
    // Truncation keeps ids and labels aligned.
    const t = encodeConversation(tok, ex[1].messages, { maxLength: 9 });
    expect([t.ids.length, t.labels.length]).toEqual([9, 9]);
  });

  test("a template that renders a turn differently in the whole conversation is refused, naming the example", () => {
    const reversed = "{% for m in messages | reverse %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
    const msgs: ChatMessage[] = [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }];
    expect(() => encodeConversation(tok, msgs, { template: reversed, where: "x.jsonl:7" }))
      .toThrow(/^x\.jsonl:7: the chat template renders turn 1 differently inside the whole conversation/);
    // A template of another shape works when it renders prefixes consistently: labels still cover exactly the reply.
    const plain = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
    const e = encodeConversation(tok, msgs, { template: plain });
    const spans = scoredSpans(e.ids, e.labels);
    expect(spans.length).toBe(1);
    expect(tok.decode(spans[0].slice(0, -1)).trim()).toBe("Hello");
  });

  test("bad records name file:line", () => {
    expect(() => readSftFile(tmpFile("a.jsonl", '{"messages": [{"role": "user", "content": "x"}]}\n{"nope": 1}\n')))
      .toThrow(/a\.jsonl:1: no assistant turn to train on$/);
    expect(() => readSftFile(tmpFile("b.jsonl", '{"question": "q", "answer": "a"}\n\n{"question": "q", "answer": 3}\n')))
      .toThrow(/b\.jsonl:3: field "answer" must be a string, got 3$/);
    expect(() => readSftFile(tmpFile("c.jsonl", '{"question": "q", "answer": "a"}\n{bad json\n'))).toThrow(/c\.jsonl:2: malformed JSON line/);
    expect(() => readSftFile(tmpFile("d.jsonl", '{"foo": "bar"}\n'))).toThrow(/d\.jsonl:1: unknown record format \(fields foo\)/);
    expect(() => readSftFile(tmpFile("e.json", '[{"instruction": "i", "input": "", "output": 1}]'))).toThrow(/e\.json\[0\]: field "output" must be a string/);
    expect(() => readSftFile(tmpFile("f.jsonl", '{"messages": [{"role": "bot", "content": "x"}]}\n'))).toThrow(/f\.jsonl:1: messages\[0\]\.role must be/);
  });
});

describe("preference pairs", () => {
  test("hh-rlhf transcripts: the prompt is everything before the last reply; only that reply is scored", () => {
    const pairs = readPreferenceFile(fx("hh_rlhf_harmless.jsonl.gz"));
    expect(pairs.length).toBe(2);
    const p = pairs[0];
    expect(p.prompt[0]).toEqual({ role: "user", content: "what are some pranks with a pen i can do?" });
    expect(p.prompt[p.prompt.length - 1].role).toBe("user");
    const enc = encodePreference(tok, p);
    for (const [reply, e] of [[p.chosen, enc.chosen], [p.rejected, enc.rejected]] as const) {
      const spans = scoredSpans(e.ids, e.labels);
      expect(spans.length).toBe(1);
      expect(tok.decode(spans[0].slice(0, -1)).trim()).toBe(reply);
    }
    // The two share the prompt's tokens exactly.
    const firstScored = enc.chosen.labels.findIndex((l) => l !== IGNORE_INDEX);
    expect(enc.rejected.ids.slice(0, firstScored)).toEqual(enc.chosen.ids.slice(0, firstScored));
  });

  test("UltraFeedback-binarized messages and plain triples", () => {
    const file = tmpFile("uf.jsonl", [
      JSON.stringify({ prompt: "Name a colour.", chosen: [{ role: "user", content: "Name a colour." }, { role: "assistant", content: "Blue." }],
        rejected: [{ role: "user", content: "Name a colour." }, { role: "assistant", content: "Seven." }], score_chosen: 8, score_rejected: 2 }),
      JSON.stringify({ prompt: "Say hi.", chosen: "Hi!", rejected: "No." }),
      JSON.stringify({ prompt: "Count.", chosen: [{ role: "assistant", content: "1 2 3" }], rejected: [{ role: "assistant", content: "?" }] }),
    ].join("\n"));
    const [a, b, c] = readPreferenceFile(file);
    expect(c).toMatchObject({ prompt: [{ role: "user", content: "Count." }], chosen: "1 2 3", rejected: "?" });
    expect(a).toMatchObject({ prompt: [{ role: "user", content: "Name a colour." }], chosen: "Blue.", rejected: "Seven." });
    expect(b).toMatchObject({ prompt: [{ role: "user", content: "Say hi." }], chosen: "Hi!", rejected: "No." });
    const bad = tmpFile("bad.jsonl", JSON.stringify({ chosen: [{ role: "user", content: "A" }, { role: "assistant", content: "x" }],
      rejected: [{ role: "user", content: "B" }, { role: "assistant", content: "y" }] }) + "\n");
    expect(() => readPreferenceFile(bad)).toThrow(/bad\.jsonl:1: "chosen" and "rejected" differ before their last assistant turn/);
  });
});

describe("CoreNet's commonsense prompt as a chat template", () => {
  // assets/templates/corenet-commonsense.jinja trains on exactly the context the llmadapters_* tasks score
  // against, so a fine-tuned adapter is evaluated on its own prompt format.
  const template = fs.readFileSync(new URL("../../assets/templates/corenet-commonsense.jinja", import.meta.url), "utf-8");
  test("renders corenetPrompt(instruction), then the reply and EOS; only the reply (with the indent before it) and EOS are scored", async () => {
    const { corenetPrompt } = await import("../../src/eval/tasks/llm_adapters.js");
    const dir = fx("llm-adapters-commonsense");
    let checked = 0;
    for (const task of fs.readdirSync(dir).filter((t) => fs.statSync(path.join(dir, t)).isDirectory())) {
      const file = path.join(dir, task, fs.readdirSync(path.join(dir, task)).find((f) => f.endsWith(".json"))!);
      for (const { messages } of readSftFile(file).slice(0, 3)) {
        const [user, reply] = messages;
        expect(renderChat([user], { template, addGenerationPrompt: true })).toBe(corenetPrompt(user.content));
        expect(renderChat(messages, { template })).toBe(corenetPrompt(user.content) + reply.content + "</s>");
        const e = encodeConversation(tok, messages, { template });
        const spans = scoredSpans(e.ids, e.labels);
        expect(spans.length).toBe(1);
        // the prompt's trailing indent joins the reply's first token, as lm-eval moves it into the continuation
        expect(spans[0][spans[0].length - 1]).toBe(tok.eosId);
        expect(tok.decode(spans[0].slice(0, -1))).toBe(" ".repeat(15) + reply.content);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});

test("hh-rlhf pairs that part before the last turn (a Human turn glued into a reply) take the shared turns as the prompt, as TRL does", () => {
  const shared = "\n\nHuman: Are drag queens men?\n\nAssistant: No.\n\nHuman: Isn't that drag kings?";
  const f = tmpFile("glued.jsonl", JSON.stringify({
    chosen: `${shared}\n\nAssistant: No, kings.  Human: Why?\n\nAssistant: Because.`,
    rejected: `${shared}\n\nAssistant: Yes.`,
  }) + "\n");
  const [p] = readPreferenceFile(f);
  expect(p.prompt).toEqual([{ role: "user", content: "Are drag queens men?" }, { role: "assistant", content: "No." }, { role: "user", content: "Isn't that drag kings?" }]);
  expect(p.chosen).toBe("No, kings.  Human: Why?\n\nAssistant: Because.");
  expect(p.rejected).toBe("Yes.");
  // a pair with no shared opening is still an error naming the line
  const bad = tmpFile("bad.jsonl", JSON.stringify({ chosen: "\n\nHuman: a\n\nAssistant: b", rejected: "\n\nHuman: c\n\nAssistant: d" }) + "\n");
  expect(() => readPreferenceFile(bad)).toThrow(/bad\.jsonl:1: "chosen" and "rejected" differ before their last assistant turn/);
});
