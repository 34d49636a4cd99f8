// Turns generated token ids into printable text pieces without ever emitting half a UTF-8 character:
// text is held back while the decoded tail ends in U+FFFD (an incomplete byte sequence), as HF's
// TextStreamer does. Decoding is anchored on the previous token so leading spaces come out right.

import type { Tokenizer } from "./sentencepiece.js";

export class StreamDecoder {
  private anchor: number;
  private anchorText: string;
  private pending: number[] = [];

  /** prevToken: the last prompt token (BOS when there is no prompt text). */
  constructor(private readonly tok: Tokenizer, prevToken: number) {
    this.anchor = prevToken;
    this.anchorText = tok.decode([prevToken]);
  }

  /** Add one token; returns the text that became complete ("" while a character is unfinished). */
  push(id: number): string {
    this.pending.push(id);
    const text = this.tok.decode([this.anchor, ...this.pending]).slice(this.anchorText.length);
    if (text.endsWith("\uFFFD") && this.pending.length < 4) return ""; // wait for the rest of the bytes
    this.anchor = id;
    this.anchorText = this.tok.decode([id]);
    this.pending = [];
    return text;
  }

  /** Whatever is still held back (an invalid sequence at the very end), as SentencePiece decodes it. */
  flush(): string {
    if (!this.pending.length) return "";
    const text = this.tok.decode([this.anchor, ...this.pending]).slice(this.anchorText.length);
    this.pending = [];
    return text;
  }
}
