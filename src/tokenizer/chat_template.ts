// Chat prompts for the OpenELM -Instruct models.
//
// Apple's repos ship no chat template. The -Instruct models were tuned with CoreNet's recipe
// projects/openelm/instruction_tuning/openelm-instruct.yaml (github.com/apple/corenet), run through
// the alignment-handbook; its `chat_template` is the Zephyr one, character for character the same as
// huggingface/alignment-handbook recipes/zephyr-7b-beta/sft/config_full.yaml (ZEPHYR_TEMPLATE below):
//   <|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n{reply}</s>\n ... <|assistant|>\n
// (apple/corenet issue #24 is users asking for exactly this). A checkpoint's own `chat_template` in
// tokenizer_config.json wins when present; it is rendered with @huggingface/jinja, which applies
// trim_blocks / lstrip_blocks like transformers does.

import * as fs from "node:fs";
import * as path from "node:path";
import { Template } from "@huggingface/jinja";
import { InputError, TokenizerError } from "../errors.js";
import type { Tokenizer } from "./sentencepiece.js";

export type ChatRole = "system" | "user" | "assistant";

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** The alignment-handbook Zephyr template as it appears in the CoreNet OpenELM-Instruct recipe. */
export const ZEPHYR_TEMPLATE =
  "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n" +
  "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

export interface RenderOptions {
  /** A Jinja chat template (from tokenizer_config.json); default: the Zephyr template. */
  template?: string;
  /** End with the assistant header so the model writes the reply (default true). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
}

/** Check roles and contents; throws InputError naming the message index. */
export function validateMessages(messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new InputError("messages: expected a non-empty array of {role, content}");
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null) throw new InputError(`messages[${i}]: expected an object {role, content}`);
    const { role, content } = m as Record<string, unknown>;
    if (role !== "system" && role !== "user" && role !== "assistant")
      throw new InputError(`messages[${i}].role: expected "system", "user" or "assistant", got ${JSON.stringify(role)}`);
    if (typeof content !== "string") throw new InputError(`messages[${i}].content: expected a string, got ${content === null ? "null" : typeof content}`);
  });
}

/**
 * The prompt text for a conversation. Without `template`, the Zephyr format is written directly
 * (same output as rendering ZEPHYR_TEMPLATE, which the tests check); with one, it is rendered by Jinja.
 */
export function renderChat(messages: ChatMessage[], opts: RenderOptions = {}): string {
  validateMessages(messages);
  const addGenerationPrompt = opts.addGenerationPrompt ?? true;
  const eos = opts.eosToken ?? "</s>";
  if (opts.template !== undefined) {
    let t: Template;
    try { t = new Template(opts.template); } catch (e) {
      throw new TokenizerError(`chat_template: cannot parse (${(e as Error).message})`);
    }
    try {
      return t.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: opts.bosToken ?? "<s>", eos_token: eos });
    } catch (e) {
      throw new InputError(`chat_template: rendering failed (${(e as Error).message})`);
    }
  }
  let out = "";
  for (const m of messages) out += `<|${m.role}|>\n${m.content}${eos}\n`;
  return addGenerationPrompt ? out + "<|assistant|>\n" : out;
}

/** The `chat_template` of dir/tokenizer_config.json (a string, or the "default" of a named list), if any. */
export function readChatTemplate(dir: string): string | undefined {
  const file = path.join(dir, "tokenizer_config.json");
  if (!fs.existsSync(file)) return undefined;
  return chatTemplateOf(fs.readFileSync(file, "utf8"), file);
}

/** The `chat_template` of a tokenizer_config.json's text (file names it in errors), if any. */
export function chatTemplateOf(text: string, file: string): string | undefined {
  let cfg: { chat_template?: unknown };
  try { cfg = JSON.parse(text); } catch (e) {
    throw new TokenizerError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const t = cfg.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => x && x.name === "default") ?? t[0];
    if (named && typeof named.template === "string") return named.template;
  }
  throw new TokenizerError(`${file}: chat_template: expected a string or a list of {name, template}`);
}

const SPECIAL = /(<s>|<\/s>)/;

/**
 * Token ids of a rendered chat prompt: BOS first (the handbook's SFT tokenised the rendered text with
 * add_special_tokens, so training saw BOS), and "<s>"/"</s>" in the text become ids 1/2, as
 * transformers' LlamaTokenizerFast splits added tokens out before encoding. Each remaining segment is
 * encoded with SentencePiece's dummy prefix, as that tokenizer.json's Prepend("▁") normalizer does.
 */
export function encodeChatPrompt(tokenizer: Tokenizer, text: string): number[] {
  const ids = [tokenizer.bosId];
  for (const part of text.split(SPECIAL)) {
    if (part === "<s>") ids.push(tokenizer.bosId);
    else if (part === "</s>") ids.push(tokenizer.eosId);
    else if (part !== "") ids.push(...tokenizer.encode(part, { bos: false }));
  }
  return ids;
}
