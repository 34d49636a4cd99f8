// A bigram language model over token ids with interpolated Kneser-Ney smoothing (Chen & Goodman 1998,
// discount 0.75): the baseline a trained model has to beat. The continuation distribution is add-one
// smoothed so every token of the vocabulary keeps a non-zero probability.

export class BigramModel {
  private pair = new Map<number, number>();       // v * V + w -> count
  private ctxCount: Float64Array;                  // c(v •)
  private ctxTypes: Float64Array;                  // N1+(v •): distinct followers of v
  private contTypes: Float64Array;                 // N1+(• w): distinct predecessors of w
  private totalTypes = 0;                          // N1+(• •): distinct pairs

  constructor(readonly vocabSize: number, readonly discount = 0.75) {
    this.ctxCount = new Float64Array(vocabSize);
    this.ctxTypes = new Float64Array(vocabSize);
    this.contTypes = new Float64Array(vocabSize);
  }

  /** Count the pairs of a token stream. */
  fit(tokens: ArrayLike<number>): this {
    const V = this.vocabSize;
    for (let i = 1; i < tokens.length; i++) {
      const v = tokens[i - 1], w = tokens[i], key = v * V + w;
      const c = this.pair.get(key) ?? 0;
      if (c === 0) { this.ctxTypes[v]++; this.contTypes[w]++; this.totalTypes++; }
      this.pair.set(key, c + 1);
      this.ctxCount[v]++;
    }
    return this;
  }

  /** Natural-log probability of w after v. */
  logProb(v: number, w: number): number {
    const pCont = (this.contTypes[w] + 1) / (this.totalTypes + this.vocabSize);
    const cv = this.ctxCount[v];
    if (cv === 0) return Math.log(pCont);
    const c = this.pair.get(v * this.vocabSize + w) ?? 0;
    const p = Math.max(c - this.discount, 0) / cv + (this.discount * this.ctxTypes[v] / cv) * pCont;
    return Math.log(p);
  }

  /** Sum of log-probabilities of tokens[i] given tokens[i-1], scoring tokens[0] after `first`. */
  sumLogProb(tokens: ArrayLike<number>, first: number): number {
    let s = 0, prev = first;
    for (let i = 0; i < tokens.length; i++) { s += this.logProb(prev, tokens[i]); prev = tokens[i]; }
    return s;
  }
}
