// Training sequences of fixed length T from tokenised examples: each example padded to T (one a sequence), or
// all examples concatenated and cut into windows of T (packing, as TRL's), in a shuffled order per epoch.
// Environment-neutral (fine-tuning in Node and in the browser's engine worker).

import { Rng } from "../tensor/rng.js";
import { IGNORE_INDEX, type TokenizedExample } from "./sft_data.js";

/** Fixed-length sequences: ids and HF labels (B·T each row), ignored positions −100. */
export interface Sequence { ids: Int32Array; labels: Int32Array }

/**
 * The sequences of one epoch: examples in a shuffled order (from seed and epoch), each padded (with EOS,
 * label −100) or all concatenated and cut into windows of T (packing; the last partial window is dropped).
 */
export function epochSequences(examples: TokenizedExample[], T: number, packing: boolean, padId: number, seed: number, epoch: number | null): Sequence[] {
  const order = epoch === null ? examples.map((_, i) => i) : shuffledOrder(examples.length, seed, epoch); // null: as given

  const out: Sequence[] = [];
  if (!packing) {
    for (const i of order) {
      const e = examples[i], n = Math.min(T, e.ids.length);
      const ids = new Int32Array(T).fill(padId), labels = new Int32Array(T).fill(IGNORE_INDEX);
      ids.set(e.ids.slice(0, n)); labels.set(e.labels.slice(0, n));
      out.push({ ids, labels });
    }
    return out;
  }
  let ids = new Int32Array(T), labels = new Int32Array(T), k = 0;
  for (const i of order) {
    const e = examples[i];
    for (let j = 0; j < e.ids.length; j++) {
      ids[k] = e.ids[j]; labels[k] = e.labels[j];
      if (++k === T) { out.push({ ids, labels }); ids = new Int32Array(T); labels = new Int32Array(T); k = 0; }
    }
  }
  return out;
}

/** 0 … n−1 shuffled (Fisher-Yates) from (seed, epoch). */
export function shuffledOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng([seed >>> 0, epoch >>> 0, 0x5f7, 0x1e9]);
  for (let i = n - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  return order;
}

