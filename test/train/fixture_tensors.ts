// Test helper: read a fixture .safetensors holding F64 or F32 tensors into float64 arrays (the project's
// reader takes only the checkpoint dtypes F32 / BF16 / F16; the training fixtures store gradients in F64).

import * as fs from "node:fs";

export function readFixtureTensors(path: string): Map<string, { shape: number[]; data: Float64Array }> {
  const raw = fs.readFileSync(path);
  const n = Number(raw.readBigUInt64LE(0));
  const header = JSON.parse(raw.subarray(8, 8 + n).toString("utf-8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const bytes = raw.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
    const copy = new Uint8Array(bytes); // aligned copy
    const src = e.dtype === "F64" ? new Float64Array(copy.buffer) : e.dtype === "F32" ? new Float32Array(copy.buffer) : null;
    if (!src) throw new Error(`${path}: ${name} has dtype ${e.dtype}`);
    out.set(name, { shape: e.shape, data: Float64Array.from(src) });
  }
  return out;
}
