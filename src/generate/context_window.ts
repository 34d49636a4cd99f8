// Keeping a conversation inside the context: when the next prompt (the conversation so far, the new user
// message and room for the reply) would not fit, the oldest turns are left out, the system message kept.
// Whole turns go (a user message with the replies after it), so the chat template stays well-formed; the
// sliding window of chat front ends (llama.cpp's server keeps n_keep tokens and shifts the rest by tokens).

import { InputError } from "../errors.js";
import type { ChatMessage } from "../tokenizer/chat_template.js";

export interface FittedConversation {
  /** What to send: the system message (if any), the latest earlier turns that fit, the new user message. */
  messages: ChatMessage[];
  /** How many earlier messages were left out (they follow the system message in the input). */
  dropped: number;
  /** Prompt tokens of `messages`. */
  promptTokens: number;
  /** Positions left for the reply: min(replyTokens, contextLength - promptTokens). */
  replyTokens: number;
}

/**
 * Fit `messages` (a conversation ending with the new user message) into `contextLength` positions with room
 * for `replyTokens` generated ones. `promptTokens(m)` is the prompt length of m as the model encodes it
 * (template, BOS). Drops the oldest turns, never the system message or the new message; when even those leave
 * less room than `replyTokens`, the reply gets what is left.
 * @throws InputError when the system message and the new message alone do not fit the context
 */
export function fitConversation(messages: ChatMessage[], promptTokens: (m: ChatMessage[]) => number,
  contextLength: number, replyTokens: number): FittedConversation {
  if (messages.length === 0 || messages[messages.length - 1].role !== "user")
    throw new InputError("conversation: the last message must be the user's");
  const head = messages[0].role === "system" ? 1 : 0;
  const last = messages.length - 1;
  let start = head; // first earlier message kept
  let n = promptTokens(messages);
  while (n + replyTokens > contextLength && start < last) {
    // drop one turn: the message at start and everything up to the next user message
    start++;
    while (start < last && messages[start].role !== "user") start++;
    n = promptTokens([...messages.slice(0, head), ...messages.slice(start)]);
  }
  if (n >= contextLength) {
    throw new InputError(`message: the prompt is ${n} tokens with ${head ? "the system message and " : ""}no earlier turns, ` +
      `and does not fit the context of ${contextLength} tokens; shorten it`);
  }
  return {
    messages: [...messages.slice(0, head), ...messages.slice(start)],
    dropped: start - head,
    promptTokens: n,
    replyTokens: Math.min(replyTokens, contextLength - n),
  };
}

/** A reply limit that leaves room for the conversation: 256 tokens, at most half the context. */
export function defaultReplyTokens(contextLength: number): number {
  return Math.max(1, Math.min(256, Math.floor(contextLength / 2)));
}
