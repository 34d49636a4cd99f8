// Readers for the line- and JSON-based task files (JSON Lines, label lists, JSON arrays). Every error names
// the file and, for a bad row, its 1-based line number, so a broken download is found without a debugger.

import { existsSync, readFileSync } from "node:fs";
import { DataError } from "../errors.js";

/** The text of a data file; DataError when it is missing (naming the task that needs it). */
export function readDataFile(path: string, task: string): string {
  if (!existsSync(path)) throw new DataError(`${task}: data file not found: ${path}`);
  return readFileSync(path, "utf8");
}

/** Lines of a text file without the final empty line a trailing newline leaves. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** One JSON value per non-empty line; `line` is 1-based. */
export function readJsonl(path: string, task: string): Array<{ value: Record<string, unknown>; line: number }> {
  const rows: Array<{ value: Record<string, unknown>; line: number }> = [];
  splitLines(readDataFile(path, task)).forEach((text, i) => {
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new DataError(`${path}:${i + 1}: malformed JSON line (${(e as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value))
      throw new DataError(`${path}:${i + 1}: expected a JSON object, got ${describe(value)}`);
    rows.push({ value: value as Record<string, unknown>, line: i + 1 });
  });
  return rows;
}

/** A whole-file JSON document. */
export function readJson(path: string, task: string): unknown {
  const text = readDataFile(path, task);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`${path}: malformed JSON (${(e as Error).message})`);
  }
}

/** Field `key` of a row as a string; DataError naming file, line and field otherwise. */
export function stringField(row: Record<string, unknown>, key: string, where: string): string {
  const v = row[key];
  if (typeof v !== "string") throw new DataError(`${where}: field "${key}" must be a string, got ${describe(v)}`);
  return v;
}

/** Field `key` as a list of strings. */
export function stringListField(row: Record<string, unknown>, key: string, where: string): string[] {
  const v = row[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new DataError(`${where}: field "${key}" must be a list of strings, got ${describe(v)}`);
  return v as string[];
}

/** Field `key` as an integer in [0, n). */
export function indexField(row: Record<string, unknown>, key: string, n: number, where: string): number {
  const v = row[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= n)
    throw new DataError(`${where}: field "${key}" must be an integer 0 … ${n - 1}, got ${describe(v)}`);
  return v;
}

/** A short rendering of a bad value for messages. */
export function describe(v: unknown): string {
  if (v === undefined) return "nothing (field missing)";
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}
