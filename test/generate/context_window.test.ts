// fitConversation: the oldest whole turns go first, the system message and the new message stay, and the
// reply gets the room that is left. Token counts here are 10 per message plus 1 (BOS), so sizes are exact.
import { expect, test } from "vitest";
import { defaultReplyTokens, fitConversation } from "../../src/generate/context_window.js";
import type { ChatMessage } from "../../src/tokenizer/chat_template.js";

const count = (m: ChatMessage[]) => 1 + 10 * m.length;
const sys: ChatMessage = { role: "system", content: "s" };
const turn = (i: number): ChatMessage[] => [{ role: "user", content: `u${i}` }, { role: "assistant", content: `a${i}` }];
const user: ChatMessage = { role: "user", content: "new" };

test("keeps everything while history + message + reply fit", () => {
  const m = [sys, ...turn(1), ...turn(2), user]; // 61 tokens
  const f = fitConversation(m, count, 100, 39);
  expect(f).toEqual({ messages: m, dropped: 0, promptTokens: 61, replyTokens: 39 });
});

test("drops the oldest whole turns, keeps the system message", () => {
  const m = [sys, ...turn(1), ...turn(2), ...turn(3), user]; // 81 tokens
  const f = fitConversation(m, count, 100, 40); // needs prompt <= 60: drop turn 1 and turn 2 (41 tokens)
  expect(f.messages).toEqual([sys, ...turn(3), user]);
  expect(f.dropped).toBe(4);
  expect(f.promptTokens).toBe(41);
  expect(f.replyTokens).toBe(40);
  // without a system message, a turn that is a lone user message (an aborted reply) goes as one turn
  const g = fitConversation([{ role: "user", content: "x" }, ...turn(1), user], count, 50, 19);
  expect(g.messages).toEqual([...turn(1), user]);
  expect(g.dropped).toBe(1);
});

test("when nothing earlier is left, the reply gets the rest of the context", () => {
  const f = fitConversation([sys, ...turn(1), user], count, 40, 64);
  expect(f).toEqual({ messages: [sys, user], dropped: 2, promptTokens: 21, replyTokens: 19 });
});

test("a message that cannot fit even alone is an InputError", () => {
  expect(() => fitConversation([sys, user], count, 21, 5)).toThrow(
    "message: the prompt is 21 tokens with the system message and no earlier turns, and does not fit the context of 21 tokens; shorten it");
});

test("the default reply limit is 256, at most half the context", () => {
  expect(defaultReplyTokens(2048)).toBe(256);
  expect(defaultReplyTokens(256)).toBe(128);
});
