// The WASM memory's limit: asking for more than a 32-bit memory holds is a clear error, not a crash.
import { expect, test } from "vitest";
import { OutOfMemoryError } from "../../src/errors.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";

test("allocating past 4 GiB names the limit and the ways around it", async () => {
  const be = await createWasmBackend({ threads: 1 });
  expect(() => be.alloc(1.1e9)).toThrow("wasm backend: out of memory: needs 4.10 GiB, a 32-bit WebAssembly memory holds 4 GiB " +
    "(weights, KV cache and buffers together; quantize large models while loading, e.g. --dtype q8_0, use a shorter context, or use --backend ref)");
  expect(() => be.alloc(1.1e9)).toThrow(OutOfMemoryError);
  expect(be.alloc(16)).toHaveLength(16); // still usable
  be.dispose?.();
});
