// Python's notion of whitespace (str.isspace, str.strip/rstrip with no argument, re's \s on str patterns).
// It differs from JavaScript's \s: Python includes \x1c-\x1f and \x85, and excludes U+FEFF.
// lm-eval's whitespace move (`context.rstrip()`) and word count (`re.split(r"\s+", …)`) depend on it.

const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

export const PY_WHITESPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "gu");
const TRAILING = new RegExp(`[${PY_SPACE}]+$`, "u");
const LEADING = new RegExp(`^[${PY_SPACE}]+`, "u");

/** Python `s.rstrip()`. */
export function pythonRstrip(s: string): string {
  return s.replace(TRAILING, "");
}

/** Python `s.lstrip()`. */
export function pythonLstrip(s: string): string {
  return s.replace(LEADING, "");
}

/** Python `s.strip()`. */
export function pythonStrip(s: string): string {
  return pythonLstrip(pythonRstrip(s));
}

/** Python `len(s)`: Unicode code points, not UTF-16 units. */
export function pythonLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Python `len(re.split(r"\s+", s))`: pieces, including the empty ones at either end. */
export function pythonSplitCount(s: string): number {
  return s.split(PY_WHITESPACE_RUN).length;
}
