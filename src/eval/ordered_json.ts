// JSON whose object key order matters: TruthfulQA's mc_task.json keeps each question's answers as the keys
// of an object, in choice order. JSON.parse would move integer-like keys ("42") to the front, so objects
// are parsed here into ordered [key, value] lists.

import { DataError } from "../errors.js";

/** A JSON object with its keys in file order. */
export class OrderedObject {
  constructor(readonly entries: Array<[string, unknown]>) {}
  get(key: string): unknown {
    return this.entries.find(([k]) => k === key)?.[1];
  }
}

/** Parse JSON text; objects become OrderedObject, everything else as JSON.parse. */
export function parseOrderedJson(text: string, file: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new DataError(`${file}:${line}: malformed JSON (${what})`);
  };
  const ws = () => { while (i < text.length && " \t\r\n".includes(text[i])) i++; };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: Array<[string, unknown]> = [];
      ws();
      if (text[i] === "}") { i++; return new OrderedObject(entries); }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const key = string();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        entries.push([key, value()]);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return new OrderedObject(entries); }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items: unknown[] = [];
      ws();
      if (text[i] === "]") { i++; return items; }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return items; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) fail(c === undefined ? "unexpected end of file" : `unexpected character ${JSON.stringify(c)}`);
    i += m![0].length;
    return JSON.parse(m![0]);
  };
  const string = (): string => {
    const startAt = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(startAt, i)) as string;
  };
  const result = value();
  ws();
  if (i < text.length) fail("trailing characters");
  return result;
}
