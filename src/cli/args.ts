// Argument parsers for commander: each rejects bad values with one line naming what was expected.

import { InvalidArgumentError } from "commander";
import type { GenerateOptions } from "../generate/generate.js";
import { CLI_NAMES, logitBiasEntries, validateGenerationOptions } from "../generate/options.js";

/** A command line that cannot run as given (options that exclude or need each other): exit 2, as commander's own. */
export class UsageError extends Error {
  override name = "UsageError";
}

export function intArg(min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${v}"`);
    return n;
  };
}

export function floatArg(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
}

/** "1,450,4996" or "[1, 450, 4996]" -> token ids. */
export function idsArg(v: string): number[] {
  const s = v.trim().replace(/^\[|\]$/g, "");
  if (s === "") throw new InvalidArgumentError(`expected comma-separated token ids, got "${v}"`);
  return s.split(",").map((x) => {
    const t = x.trim();
    if (!/^\d+$/.test(t)) throw new InvalidArgumentError(`expected comma-separated non-negative integer token ids, got "${v}"`);
    return Number(t);
  });
}

/** "0,1,25" -> non-negative integers; `what` names them in the error (e.g. "document indices"). */
export function intListArg(what: string) {
  return (v: string): number[] => {
    const parts = v.split(",").map((x) => x.trim());
    if (!parts.every((x) => /^\d+$/.test(x))) throw new InvalidArgumentError(`expected comma-separated ${what}, got "${v}"`);
    return parts.map(Number);
  };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function choiceArg<T extends string>(choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${choices.join(", ")}, got "${v}"`);
    return v as T;
  };
}

/** Read all of stdin as UTF-8. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf-8");
}

/** --logit-bias ID=BIAS[,ID=BIAS ...] -> GenerateOptions.logitBias, checked like the server's logit_bias. */
export function logitBiasArg(v: string, previous: Record<string, number> = {}): Record<string, number> {
  const out = { ...previous };
  for (const part of v.split(",")) {
    const m = /^\s*(\S+?)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected ID=BIAS pairs, e.g. 13=-100,450=5; got ${JSON.stringify(part)}`);
    out[m[1]] = m[2].trim() === "" || Number.isNaN(Number(m[2])) ? (m[2] as unknown as number) : Number(m[2]);
  }
  try { logitBiasEntries(out, Infinity, "--logit-bias"); } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^[^:]*: /, ""));
  }
  return out;
}

/** A generation option's flag, checked by the rule the library and the server use (generate/options.ts). */
export function generationArg(key: keyof GenerateOptions) {
  return (v: string): number => {
    const n = v.trim() === "" ? NaN : Number(v);
    try {
      validateGenerationOptions({ [key]: Number.isNaN(n) ? v : n }, CLI_NAMES); // a non-number is named as given
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message.replace(/^[^:]*: /, "")); // commander names the option
    }
    return n;
  };
}
