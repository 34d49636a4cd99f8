// Fine-tuning data: instruction / chat examples (SFT) and preference pairs (DPO) from the common public formats,
// rendered with the model's chat template (Zephyr by default, tokenizer/chat_template.ts) and tokenised into
// {ids, labels} with HF semantics: labels have the shape of ids, the shift happens in the loss, and -100 marks a
// position that is not scored. Only assistant tokens are scored (each reply and the EOS that ends it).
//
// Record formats (detected per record by their fields):
//   {"messages": [{role, content}, ...]}                       chat (UltraChat, OpenAI style); also {"prompt", "messages"}
//   {"instruction", "context", "response"[, "category"]}       databricks-dolly-15k
//   {"text": "### Human: ... ### Assistant: ..."}               Dolly / OpenAssistant-style transcripts (several turns allowed)
//   {"question", "answer"}                                      GSM8K (the answer kept whole, calculator notes and "#### n")
//   {"instruction", "instances": [{"input", "output"}], ...}   self-instruct seed tasks (one example per instance)
//   {"instruction", "input", "output"[, "answer"]}              LLM-Adapters / Alpaca
// Preference pairs:
//   {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}   hh-rlhf transcripts (differ in the last reply)
//   {"prompt", "chosen": [messages], "rejected": [messages]}             UltraFeedback-binarized
//   {"prompt": str, "chosen": str, "rejected": str}                      plain triples
// Files: .jsonl, .jsonl.gz, or .json holding an array. A bad record is a DataError naming file:line (or file[index]).

import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { DataError } from "../errors.js";
import { encodeChatPrompt, renderChat, type ChatMessage } from "../tokenizer/chat_template.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";

export const IGNORE_INDEX = -100;

/** A preference pair: a conversation up to the reply, and the preferred and the dispreferred reply. */
export interface PreferencePair {
  prompt: ChatMessage[];
  chosen: string;
  rejected: string;
}

/** One tokenised example: ids and labels of equal length (labels = ids where scored, -100 elsewhere). */
export interface TokenizedExample {
  ids: number[];
  labels: number[];
}

/** A record with where it came from, for messages. */
export interface SourcedRecord { value: unknown; where: string }

/** The records of a .jsonl, .jsonl.gz or .json (array) file; `where` is file:line (file[index] for arrays). */
export function readRecords(file: string): SourcedRecord[] {
  if (!fs.existsSync(file)) throw new DataError(`${file}: no such data file`);
  let bytes: Buffer = fs.readFileSync(file);
  if (file.endsWith(".gz")) {
    try { bytes = zlib.gunzipSync(bytes); } catch (e) { throw new DataError(`${file}: not a gzip file (${(e as Error).message})`); }
  }
  const name = file.replace(/\.gz$/, "");
  return parseRecords(bytes.toString("utf8"), file, name.endsWith(".json") ? "json" : "jsonl");
}

/** The records of JSON text: one per line (jsonl) or an array (json); `where` names `file` as readRecords does. */
export function parseRecords(text: string, file: string, format: "json" | "jsonl"): SourcedRecord[] {
  if (format === "json") {
    let v: unknown;
    try { v = JSON.parse(text); } catch (e) { throw new DataError(`${file}: malformed JSON (${(e as Error).message})`); }
    if (!Array.isArray(v)) throw new DataError(`${file}: expected a JSON array of records (or use .jsonl, one record a line)`);
    return v.map((value, i) => ({ value, where: `${file}[${i}]` }));
  }
  const out: SourcedRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try { value = JSON.parse(line); } catch (e) { throw new DataError(`${file}:${i + 1}: malformed JSON line (${(e as Error).message})`); }
    out.push({ value, where: `${file}:${i + 1}` });
  });
  return out;
}

function fail(where: string, msg: string): never {
  throw new DataError(`${where}: ${msg}`);
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") fail(where, `field "${key}" must be a string, got ${v === undefined ? "nothing" : JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

function messagesOf(v: unknown, where: string, field: string): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) fail(where, `field "${field}" must be a non-empty list of {role, content}`);
  return v.map((m, i) => {
    const o = m as Record<string, unknown>;
    if (typeof o !== "object" || o === null) fail(where, `${field}[${i}] must be an object {role, content}`);
    if (o.role !== "system" && o.role !== "user" && o.role !== "assistant")
      fail(where, `${field}[${i}].role must be "system", "user" or "assistant", got ${JSON.stringify(o.role)}`);
    if (typeof o.content !== "string") fail(where, `${field}[${i}].content must be a string`);
    return { role: o.role, content: o.content };
  });
}

/** "instruction" plus an optional input / context, as one user message (the input after a blank line). */
function withInput(instruction: string, input: string): string {
  return input.trim() === "" ? instruction : `${instruction}\n\n${input}`;
}

/** Turns of a "### Human: … ### Assistant: …" transcript. */
function hashTranscript(text: string, where: string): ChatMessage[] {
  const parts = text.split(/(### Human:|### Assistant:)/);
  if (parts[0].trim() !== "") fail(where, `field "text" must start with "### Human:"`);
  const turns: ChatMessage[] = [];
  for (let i = 1; i < parts.length; i += 2)
    turns.push({ role: parts[i] === "### Human:" ? "user" : "assistant", content: parts[i + 1].trim() });
  return turns;
}

/** Turns of an hh-rlhf transcript ("\n\nHuman: …\n\nAssistant: …"). */
function hhTranscript(text: string, where: string, field: string): ChatMessage[] {
  const parts = text.split(/\n\n(Human|Assistant): /);
  if (parts[0].trim() !== "") fail(where, `field "${field}" must start with "\\n\\nHuman: "`);
  const turns: ChatMessage[] = [];
  for (let i = 1; i < parts.length; i += 2) turns.push({ role: parts[i] === "Human" ? "user" : "assistant", content: parts[i + 1].trim() });
  if (turns.length === 0) fail(where, `field "${field}" holds no "Human:" / "Assistant:" turns`);
  return turns;
}

/**
 * The conversations of one SFT record (several for a self-instruct task with several instances). Each must hold
 * an assistant turn. Throws DataError naming `where` for a record of no known format or with bad fields.
 */
export function sftConversations(value: unknown, where: string): ChatMessage[][] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "expected a JSON object");
  const o = value as Record<string, unknown>;
  let convs: ChatMessage[][];
  if ("messages" in o) {
    const msgs = messagesOf(o.messages, where, "messages");
    convs = [typeof o.prompt === "string" && msgs[0].role === "assistant" ? [{ role: "user", content: o.prompt }, ...msgs] : msgs];
  } else if ("response" in o) convs = [[{ role: "user", content: withInput(str(o, "instruction", where), typeof o.context === "string" ? o.context : "") },
    { role: "assistant", content: str(o, "response", where) }]];
  else if ("text" in o) convs = [hashTranscript(str(o, "text", where), where)];
  else if ("question" in o) convs = [[{ role: "user", content: str(o, "question", where) }, { role: "assistant", content: str(o, "answer", where) }]];
  else if ("instances" in o) {
    const inst = o.instances;
    if (!Array.isArray(inst) || inst.length === 0) fail(where, `field "instances" must be a non-empty list of {input, output}`);
    const instruction = str(o, "instruction", where);
    convs = inst.map((x, i) => {
      const io = x as Record<string, unknown>;
      const w = `${where}: instances[${i}]`;
      if (typeof io !== "object" || io === null) fail(w, "expected an object {input, output}");
      return [{ role: "user" as const, content: withInput(instruction, typeof io.input === "string" ? io.input : "") },
        { role: "assistant" as const, content: str(io, "output", w) }];
    });
  } else if ("output" in o) convs = [[{ role: "user", content: withInput(str(o, "instruction", where), typeof o.input === "string" ? o.input : "") },
    { role: "assistant", content: str(o, "output", where) }]];
  else fail(where, `unknown record format (fields ${Object.keys(o).join(", ") || "none"}); expected messages, instruction/context/response, ` +
    `text ("### Human: … ### Assistant: …"), question/answer, instruction/instances or instruction/input/output`);
  for (const c of convs) if (!c.some((m) => m.role === "assistant")) fail(where, "no assistant turn to train on");
  return convs;
}

/**
 * An hh-rlhf pair whose transcripts part before the last turn (some have a Human turn glued into an assistant
 * reply, so one side has more turns): as TRL's extract_prompt takes the common prefix as the prompt, the prompt is
 * the turns both share up to an assistant turn, and each reply is the rest of its transcript as text. Undefined
 * when the transcripts differ only in their last turn (the usual case) or share no such prefix.
 */
function hhDivergence(chosen: ChatMessage[], rejected: ChatMessage[]): PreferencePair | undefined {
  let k = 0;
  while (k < chosen.length && k < rejected.length && chosen[k].role === rejected[k].role && chosen[k].content === rejected[k].content) k++;
  if (k === chosen.length - 1 && k === rejected.length - 1) return undefined;
  if (k === 0 || k >= chosen.length || k >= rejected.length || chosen[k].role !== "assistant" || rejected[k].role !== "assistant") return undefined;
  const rest = (m: ChatMessage[]) => m.slice(k).map((t, i) => (i === 0 ? "" : `\n\n${t.role === "user" ? "Human" : "Assistant"}: `) + t.content).join("");
  return { prompt: chosen.slice(0, k), chosen: rest(chosen), rejected: rest(rejected) };
}

/** The preference pair of one record (hh-rlhf, UltraFeedback-binarized, or plain prompt/chosen/rejected). */
export function preferencePair(value: unknown, where: string): PreferencePair {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "expected a JSON object");
  const o = value as Record<string, unknown>;
  if (!("chosen" in o) || !("rejected" in o)) fail(where, `a preference pair needs fields "chosen" and "rejected"`);
  let chosen: ChatMessage[], rejected: ChatMessage[];
  if (typeof o.chosen === "string" && typeof o.rejected === "string") {
    if (typeof o.prompt === "string") return { prompt: [{ role: "user", content: o.prompt }], chosen: o.chosen, rejected: o.rejected };
    chosen = hhTranscript(o.chosen, where, "chosen");
    rejected = hhTranscript(o.rejected, where, "rejected");
    const split = hhDivergence(chosen, rejected);
    if (split) return split;
  } else {
    chosen = messagesOf(o.chosen, where, "chosen");
    rejected = messagesOf(o.rejected, where, "rejected");
  }
  const last = (m: ChatMessage[], f: string) => {
    if (m[m.length - 1].role !== "assistant") fail(where, `"${f}" must end with an assistant turn`);
    return m[m.length - 1].content;
  };
  const c = last(chosen, "chosen"), r = last(rejected, "rejected");
  let prompt = chosen.slice(0, -1), rp = rejected.slice(0, -1);
  // Some exports keep only the reply in chosen / rejected, with the prompt beside them.
  if (prompt.length === 0 && rp.length === 0 && typeof o.prompt === "string") prompt = rp = [{ role: "user", content: o.prompt }];
  if (prompt.length === 0) fail(where, `"chosen" holds only the reply; no prompt before it (nor a "prompt" string)`);
  if (prompt.length !== rp.length || prompt.some((m, i) => m.role !== rp[i].role || m.content !== rp[i].content))
    fail(where, `"chosen" and "rejected" differ before their last assistant turn (expected the same prompt)`);
  return { prompt, chosen: c, rejected: r };
}

export interface EncodeOptions {
  /** A Jinja chat template (default: the Zephyr format). */
  template?: string;
  /** Score every assistant turn (default) or only the last one (preference pairs: earlier replies are prompt). */
  score?: "all" | "last";
  /** Cut ids and labels to this many tokens (right truncation). */
  maxLength?: number;
  /** Where the example came from (file:line), for errors. */
  where?: string;
}

function commonPrefix(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Tokenise a conversation for training: ids of the whole rendered conversation (BOS first, "</s>" as EOS, as
 * encodeChatPrompt), labels = ids on each assistant reply and the EOS that closes it, -100 elsewhere. A reply's
 * tokens are those after the prompt rendered with the assistant header (the longest common prefix of the two
 * encodings, so a merge across the boundary is not scored twice).
 */
export function encodeConversation(tok: Tokenizer, messages: ChatMessage[], opts: EncodeOptions = {}): TokenizedExample {
  const render = (m: ChatMessage[], gen: boolean) => encodeChatPrompt(tok, renderChat(m, { template: opts.template, addGenerationPrompt: gen }));
  const ids = render(messages, false);
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  const turns = messages.map((m, k) => (m.role === "assistant" ? k : -1)).filter((k) => k >= 0);
  for (const k of opts.score === "last" ? turns.slice(-1) : turns) {
    if (k === 0) continue; // a reply with nothing before it has no prompt to condition on
    const p = render(messages.slice(0, k), true), f = render(messages.slice(0, k + 1), false);
    const start = commonPrefix(p, f);
    let end = f.indexOf(tok.eosId, start);
    end = end < 0 ? f.length : end + 1;
    // The prompt must render as a prefix of the conversation (one token may re-merge across the boundary).
    if (start < p.length - 1 || commonPrefix(f, ids) < end)
      throw new DataError(`${opts.where ?? "example"}: the chat template renders turn ${k} differently inside the whole conversation; cannot place its labels`);
    for (let i = start; i < end; i++) labels[i] = ids[i];
  }
  if (opts.maxLength !== undefined && ids.length > opts.maxLength) { ids.length = opts.maxLength; labels.length = opts.maxLength; }
  return { ids, labels };
}

/** Chosen and rejected conversations of a pair, tokenised with only the final reply scored. */
export function encodePreference(tok: Tokenizer, p: PreferencePair, opts: Omit<EncodeOptions, "score"> = {}): { chosen: TokenizedExample; rejected: TokenizedExample } {
  const o = { ...opts, score: "last" as const };
  return {
    chosen: encodeConversation(tok, [...p.prompt, { role: "assistant", content: p.chosen }], o),
    rejected: encodeConversation(tok, [...p.prompt, { role: "assistant", content: p.rejected }], o),
  };
}

/** Every SFT conversation of a data file, each with where it came from. */
export function readSftFile(file: string): Array<{ messages: ChatMessage[]; where: string }> {
  return readRecords(file).flatMap(({ value, where }) => sftConversations(value, where).map((messages) => ({ messages, where })));
}

/** Every preference pair of a data file. */
export function readPreferenceFile(file: string): Array<PreferencePair & { where: string }> {
  return readRecords(file).map(({ value, where }) => ({ ...preferencePair(value, where), where }));
}
