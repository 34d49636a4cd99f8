// RFC 4180 CSV, as Python's csv module / pandas read the hendrycks MMLU files: fields may be quoted, quotes
// inside are doubled, quoted fields may hold commas and newlines. Records carry the 1-based line they start on.

import { DataError } from "../errors.js";

export interface CsvRecord {
  fields: string[];
  line: number;
}

/** Parse CSV text into records; DataError naming file and line for an unterminated quote. */
export function parseCsv(text: string, file: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let start = 1;
  let i = 0;
  let quoted = false;
  let atFieldStart = true;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "")) records.push({ fields, line: start });
    fields = [];
    field = "";
    atFieldStart = true;
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      if (c === "\n") line++;
      field += c; i++; continue;
    }
    if (c === '"' && atFieldStart) { quoted = true; atFieldStart = false; i++; continue; }
    if (c === ",") { fields.push(field); field = ""; atFieldStart = true; i++; continue; }
    if (c === "\r" && text[i + 1] === "\n") { i++; continue; }
    if (c === "\n") { endRecord(); line++; start = line; i++; continue; }
    field += c; atFieldStart = false; i++;
  }
  if (quoted) throw new DataError(`${file}:${start}: unterminated quoted field`);
  if (field !== "" || fields.length > 0) endRecord();
  return records;
}
