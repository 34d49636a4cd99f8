// Prompt-lookup candidates (HF PromptLookupCandidateGenerator, Apple's generate_openelm.py
// prompt_lookup_num_tokens): find the latest earlier occurrence of the last n tokens (n = maxNgram … 1)
// and propose the tokens that followed it. Verification is exact greedy, so output never changes.

export function lookupCandidates(ids: ArrayLike<number>, numTokens: number, maxNgram = 2): number[] {
  const L = ids.length;
  for (let n = Math.min(maxNgram, L - 1); n >= 1; n--) {
    // HF scans windows left to right and takes the first match; so do we.
    for (let start = 0; start + n < L; start++) {
      let match = true;
      for (let k = 0; k < n; k++) if (ids[start + k] !== ids[L - n + k]) { match = false; break; }
      if (!match) continue;
      const from = start + n, to = Math.min(from + numTokens, L);
      const out: number[] = [];
      for (let i = from; i < to; i++) out.push(ids[i]);
      if (out.length) return out;
    }
  }
  return [];
}
