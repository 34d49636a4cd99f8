// WebAssembly relaxed SIMD in Node: Node 20's V8 (11.3) has it behind a flag, V8 11.4 and later (Node 22+)
// ship it and no longer know the flag (setting it there prints "unrecognized flag"). So the flag is set only
// where a probe module using a relaxed op does not validate, and before any kernel module compiles.
import * as v8 from "node:v8";

const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const BODY = [0x00, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x0b]; // f32x4.relaxed_madd(0, 0, 0)
/** A module of one function () -> v128 whose body is BODY. */
const PROBE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00, 0x0a, BODY.length + 2, 0x01, BODY.length, ...BODY]);

/** Makes relaxed SIMD available if this runtime can (true), before any module compiles. */
export function enableRelaxedSimd(): boolean {
  if (!WebAssembly.validate(PROBE)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(PROBE);
}
