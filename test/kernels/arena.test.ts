// The WASM memory's limit: asking for more than a 32-bit memory holds is a clear error, not a crash; and what the
// arena keeps after loading a matrix.
import { expect, test } from "vitest";
import { OutOfMemoryError } from "../../src/errors.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { Arena } from "../../src/kernels/wasm/arena.js";
import { randn, storeAs } from "./wasm_cases.js";

test("allocating past 4 GiB names the limit and the ways around it", async () => {
  const be = await createWasmBackend({ threads: 1 });
  expect(() => be.alloc(1.1e9)).toThrow("wasm backend: out of memory: needs 4.10 GiB, a 32-bit WebAssembly memory holds 4 GiB " +
    "(weights, KV cache and buffers together; quantize large models while loading, e.g. --dtype q8_0, use a shorter context, or use --backend ref)");
  expect(() => be.alloc(1.1e9)).toThrow(OutOfMemoryError);
  expect(be.alloc(16)).toHaveLength(16); // still usable
  be.dispose?.();
});

test("release frees back to a mark, zeroed, and refuses a mark above the top", () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true }), 1024);
  const keep = arena.allocBytes(100), mark = arena.used;
  const tmp = arena.allocBytes(200_000); // grows the memory
  arena.u8(tmp, 200_000).fill(7);
  arena.release(mark);
  expect(arena.used).toBe(mark);
  const again = arena.allocBytes(200_000);
  expect(again).toBe(tmp);
  expect(arena.u8(again, 200_000).every((b) => b === 0)).toBe(true);
  expect(keep).toBeLessThan(mark);
  expect(() => arena.release(arena.used + 64)).toThrow(/release\(\d+\): not a mark below the top/);
});

// Loading stages the file's blocks (≈ 4 MiB at a time) above the arena's top and releases them: the memory grows
// by the repacked matrix alone, and the next matrix starts right after it, over the staging's pages.
test.each([["q8_0", 136 * 4 * 8 * 3], ["bf16", 4096 * 5], ["f32", 8192 * 5], ["q4_k", 592 * 4 * 3]] as const)("loading %s keeps no staging buffer", async (dtype, bytes) => {
  const be = await createWasmBackend({ threads: 2 });
  const st = storeAs(dtype, randn(40 * 256, 3, 0.05), 40, 256);
  const before = be.memoryBytes();
  const a = be.loadMatrix(st, 40, 256) as unknown as { ptr: number }, mid = be.memoryBytes();
  const b = be.loadMatrix(st, 40, 256) as unknown as { ptr: number };
  expect(a.ptr - before).toBeLessThan(64); // alignment
  expect(mid - a.ptr).toBe(bytes); // 40 rows, 256 columns: q8_0 3 quads, bf16 and f32 5 groups of 8 rows, q4_k 3 quads
  expect(b.ptr - a.ptr).toBe(bytes);
  expect(be.memoryBytes() - mid).toBe(bytes);
  be.dispose?.();
});
