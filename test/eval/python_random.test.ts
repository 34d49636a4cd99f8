// Python's random.Random(seed).sample / shuffle / random, against the values CPython 3.11 gives.
import { describe, expect, test } from "vitest";
import { PythonRandom } from "../../src/eval/python_random.js";
import { expected } from "./fixture.js";

describe("PythonRandom", () => {
  for (const c of expected.python_random_sample.cases) {
    test(`Random(1234).sample(range(${c.pool_size}), ${c.k}) three times`, () => {
      const r = new PythonRandom(1234);
      const pool = Array.from({ length: c.pool_size }, (_, i) => i);
      expect([0, 1, 2].map(() => r.sample(pool, c.k))).toEqual(c.draws);
    });
  }
  test("random() and shuffle() match CPython", () => {
    expect(new PythonRandom(1234).random()).toBe(0.9664535356921388); // python3 -c "import random; print(random.Random(1234).random())"
    const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    new PythonRandom(42).shuffle(x); // random.Random(42).shuffle(list(range(10)))
    expect(x).toEqual([7, 3, 2, 8, 5, 6, 9, 4, 0, 1]);
  });
  test("sample larger than the population throws as Python does", () => {
    expect(() => new PythonRandom(1).sample([1, 2], 3)).toThrow("Sample larger than population or is negative");
  });
});
