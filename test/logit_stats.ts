// Test helpers over one row of logits: log-softmax in float64 and the argmax.

export function logSoftmax(row: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const lse = m + Math.log(s), out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

export function argmax(row: Float32Array): number {
  let a = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[a]) a = j;
  return a;
}
