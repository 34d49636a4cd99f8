// The OpenELM-Instruct chat prompt: pinned against the Zephyr format of the alignment-handbook /
// CoreNet recipe, and equal to the recipe's Jinja template rendered by @huggingface/jinja.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { encodeChatPrompt, readChatTemplate, renderChat, ZEPHYR_TEMPLATE, type ChatMessage } from "../../src/tokenizer/chat_template.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";

const THREE_TURNS: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is OpenELM?" },
  { role: "assistant", content: "A family of small language models from Apple." },
  { role: "user", content: "How many sizes?" },
  { role: "assistant", content: "Four: 270M, 450M, 1.1B and 3B." },
  { role: "user", content: "Which is smallest?" },
];

// Written out by hand from the recipe's template (apple/corenet projects/openelm/instruction_tuning/openelm-instruct.yaml).
const PINNED =
  "<|system|>\nYou are a helpful assistant.</s>\n" +
  "<|user|>\nWhat is OpenELM?</s>\n" +
  "<|assistant|>\nA family of small language models from Apple.</s>\n" +
  "<|user|>\nHow many sizes?</s>\n" +
  "<|assistant|>\nFour: 270M, 450M, 1.1B and 3B.</s>\n" +
  "<|user|>\nWhich is smallest?</s>\n" +
  "<|assistant|>\n";

describe("chat template", () => {
  test("a 3-turn conversation renders to the pinned Zephyr prompt", () => {
    expect(renderChat(THREE_TURNS)).toBe(PINNED);
  });

  test("the recipe's Jinja template through @huggingface/jinja gives the same text", () => {
    expect(renderChat(THREE_TURNS, { template: ZEPHYR_TEMPLATE })).toBe(PINNED);
    const noPrompt = PINNED.slice(0, -"<|assistant|>\n".length);
    expect(renderChat(THREE_TURNS, { template: ZEPHYR_TEMPLATE, addGenerationPrompt: false })).toBe(noPrompt);
    expect(renderChat(THREE_TURNS, { addGenerationPrompt: false })).toBe(noPrompt);
  });

  test("a checkpoint's own chat_template in tokenizer_config.json is read and used", () => {
    const dir = mkdtempSync(join(tmpdir(), "openelm-tpl-"));
    try {
      expect(readChatTemplate(dir)).toBeUndefined();
      const tpl = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: tpl }));
      expect(renderChat(THREE_TURNS.slice(0, 2), { template: readChatTemplate(dir) })).toBe(
        "<s>[system] You are a helpful assistant.\n[user] What is OpenELM?\n[assistant] ");
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: [{ name: "tool_use", template: "x" }, { name: "default", template: tpl }] }));
      expect(readChatTemplate(dir)).toBe(tpl);
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: 3 }));
      expect(() => readChatTemplate(dir)).toThrow(`${join(dir, "tokenizer_config.json")}: chat_template: expected a string or a list of {name, template}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad messages are named", () => {
    expect(() => renderChat([])).toThrow("messages: expected a non-empty array of {role, content}");
    expect(() => renderChat([{ role: "tool", content: "x" } as unknown as ChatMessage])).toThrow(
      'messages[0].role: expected "system", "user" or "assistant", got "tool"');
    expect(() => renderChat([{ role: "user", content: null } as unknown as ChatMessage])).toThrow(
      "messages[0].content: expected a string, got null");
    expect(() => renderChat(THREE_TURNS, { template: "{% for %}" })).toThrow("chat_template: cannot parse");
  });

  test("prompt ids equal the HF fast tokenizer's (fixture from @huggingface/tokenizers on Llama-2's tokenizer.json)", async () => {
    const tok = await loadTokenizer();
    const fx = JSON.parse(readFileSync("test/fixtures/chat/zephyr_prompt_ids.json", "utf8"));
    expect(fx.cases.length).toBe(4);
    for (const c of fx.cases) expect(encodeChatPrompt(tok, c.text), c.name).toEqual(c.ids);
    expect(fx.cases[1].text).toBe(PINNED);
  });

  test("prompt ids: BOS first, </s> becomes EOS (id 2), text segments as SentencePiece encodes them", async () => {
    const tok = await loadTokenizer();
    const ids = encodeChatPrompt(tok, renderChat([{ role: "user", content: "Hello world" }]));
    const user = tok.encode("<|user|>\nHello world", { bos: false });
    expect(ids).toEqual([1, ...user, 2, ...tok.encode("\n<|assistant|>\n", { bos: false })]);
    expect(ids.filter((i) => i === 2).length).toBe(1);
  });
});
