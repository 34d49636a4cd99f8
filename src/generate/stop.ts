// Stop strings in streamed text: text that might be the start of a stop string is held back until it
// is known not to be one, so a stop string never reaches the output, even split across tokens.

export class StopMatcher {
  private held = "";

  constructor(private readonly stops: string[]) {}

  /** Feed new text; returns what is safe to emit and whether a stop string was reached. */
  push(text: string): { emit: string; stopped: boolean } {
    const buf = this.held + text;
    let first = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) { this.held = ""; return { emit: buf.slice(0, first), stopped: true }; }
    // Hold the longest tail of buf that is a proper prefix of some stop string.
    let keep = 0;
    for (const s of this.stops)
      for (let n = Math.min(s.length - 1, buf.length); n > keep; n--)
        if (buf.endsWith(s.slice(0, n))) { keep = n; break; }
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** Text still held at the end of generation. */
  flush(): string {
    const h = this.held;
    this.held = "";
    return h;
  }
}
