// Seeded random numbers: xoshiro128** with a splitmix32 seed expansion. The one generator for training
// (initialisation, data sampling), random-weight init and token sampling, so a seed gives the same numbers
// on every run and platform (Math.random is neither seedable nor reproducible). The whole state is four
// uint32s, saved in trainer_state so a resumed run draws the same numbers an uninterrupted one would.

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | number[]) {
    this.s = new Uint32Array(4);
    if (Array.isArray(seed)) { this.s.set(seed.map((x) => x >>> 0)); return; }
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) { // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** The state, for trainer_state.json. */
  state(): number[] { return Array.from(this.s); }

  /** A uniform uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits (one draw; token sampling and random-weight init use it). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n) (n ≤ 2^32), by rejection so every value is equally likely. */
  int(n: number): number {
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) { const x = this.nextU32(); if (x < limit) return x % n; }
  }

  /** Standard normal (Box-Muller, one value per call). */
  normal(): number {
    const u = 1 - this.uniform(), v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
