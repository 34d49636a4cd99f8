// Turns generated token ids into printable text pieces without ever emitting half a UTF-8 character:
// text is held back while the decoded tail ends in U+FFFD (an incomplete byte sequence), as HF's
// TextStreamer does. Decoding is anchored on the previous token so leading spaces come out right.

import type { Tokenizer } from "./sentencepiece.js";

export class StreamDecoder {
  private anchor: number;
  private pending: number[] = [];

  /** prevToken: the last prompt token (BOS when there is no prompt text). */
  constructor(private readonly tok: Tokenizer, prevToken: number) {
    this.anchor = prevToken;
  }

  /** Add one token; returns the text that became complete ("" while a character is unfinished). */
  push(id: number): string {
    let text: string;
    if (this.pending.length === 0) text = this.tok.continuation(this.anchor, id);
    else {
      this.pending.push(id);
      text = this.tok.decode([this.anchor, ...this.pending]).slice(this.tok.decode([this.anchor]).length);
    }
    if (text.endsWith("\uFFFD") && this.pending.length < 4) { // wait for the rest of the bytes
      if (this.pending.length === 0) this.pending.push(id);
      return "";
    }
    this.anchor = id;
    this.pending.length = 0;
    return text;
  }

  /** Whatever is still held back (an invalid sequence at the very end), as SentencePiece decodes it. */
  flush(): string {
    if (!this.pending.length) return "";
    const text = this.tok.decode([this.anchor, ...this.pending]).slice(this.tok.decode([this.anchor]).length);
    this.pending.length = 0;
    return text;
  }
}
