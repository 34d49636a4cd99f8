// Keys (after QK-norm and RoPE) and values per layer, for positions 0 … length-1.
// Allocated once per session through the backend (llama2.c RunState), never per token.

import type { Backend } from "../kernels/backend.js";

export class KVCache {
  /** Per layer: (maxLen, nKV[i] * hd) keys and values. */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** Positions filled so far; the next forward call writes at this position. */
  length = 0;
  /** The token ids at positions 0 … length-1, so a later prompt can reuse the common prefix. */
  tokens: number[] = [];

  constructor(backend: Backend, readonly maxLen: number, kvWidths: number[]) {
    this.k = kvWidths.map((w) => backend.alloc(maxLen * w));
    this.v = kvWidths.map((w) => backend.alloc(maxLen * w));
  }

  /** Forget positions n … length-1 (roll back to a shared prefix); their slots are overwritten later. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.length) throw new RangeError(`KVCache.truncate(${n}): expected 0 … ${this.length}`);
    this.length = n;
    this.tokens.length = n;
  }

  /** Length of the common prefix of the cached tokens and ids. */
  commonPrefix(ids: ArrayLike<number>): number {
    let k = 0;
    while (k < this.length && k < ids.length && this.tokens[k] === ids[k]) k++;
    return k;
  }
}
