// Bump allocation in the shared WebAssembly.Memory: weights, activations, KV cache and kernel scratch all
// live here, so a pointer is just a byteOffset. Nothing is freed one by one; disposing the backend drops
// the whole memory. Growing a shared memory never moves it, so views handed out earlier stay valid.

import { OutOfMemoryError } from "../../errors.js";

const PAGE = 65536;
const HOW = "(weights, KV cache and buffers together; quantize large models while loading, e.g. --dtype q8_0, use a shorter " +
  "context, or use --backend ref)";
const ALIGN = 64; // a cache line: v128 loads never straddle one at a row start

export class Arena {
  private top: number;
  /**
   * SharedArrayBuffer objects already checked. V8 may hand out a new object for the same shared memory, so
   * identity is not enough: a buffer is ours when it sees the random tag written at tagPtr.
   */
  private readonly checked = new WeakMap<ArrayBufferLike, boolean>();
  private readonly tagPtr: number;
  private readonly tag = (Math.random() * 0x7fffffff) | 1;

  constructor(readonly memory: WebAssembly.Memory, base: number) {
    this.top = base;
    this.tagPtr = this.allocBytes(4);
    new Int32Array(memory.buffer, this.tagPtr, 1)[0] = this.tag;
  }

  /** Byte offset of a fresh zeroed region of `bytes` bytes. */
  allocBytes(bytes: number): number {
    const ptr = Math.ceil(this.top / ALIGN) * ALIGN;
    const end = ptr + Math.max(bytes, 0);
    const gib = (end / 2 ** 30).toFixed(2);
    if (end > 0xffff_0000) throw new OutOfMemoryError(`wasm backend: out of memory: needs ${gib} GiB, a 32-bit WebAssembly memory holds 4 GiB ${HOW}`);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) { // the engine's or the tab's own limit, or the machine's memory
        throw new OutOfMemoryError(`wasm backend: out of memory: growing the memory to ${gib} GiB failed (${e instanceof Error ? e.message : String(e)}) ${HOW}`);
      }
    }
    this.top = end;
    return ptr;
  }

  f32(n: number): Float32Array {
    const ptr = this.allocBytes(n * 4); // first: it may grow the memory, and then .buffer is a new object
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  i32(n: number): Int32Array {
    const ptr = this.allocBytes(n * 4);
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  u8(ptr: number, bytes: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, bytes);
  }

  /**
   * Free everything allocated since `mark` (an earlier `used`) at once, zeroed again so that allocBytes still hands
   * out zeroed memory: for buffers needed only during a call (load-time staging, probes), whose pages the next
   * allocations then reuse instead of leaving them resident and idle.
   */
  release(mark: number): void {
    if (mark > this.top || mark < this.tagPtr + 4) throw new RangeError(`arena: release(${mark}): not a mark below the top (${this.top})`);
    new Uint8Array(this.memory.buffer, mark, this.top - mark).fill(0);
    this.top = mark;
  }

  /** Bytes in use. */
  get used(): number { return this.top; }

  /** The byte offset of a view into this memory; throws when the array lives elsewhere. */
  ptr(a: Float32Array | Int32Array, what: string): number {
    let ok = this.checked.get(a.buffer);
    if (ok === undefined) {
      const b = a.buffer;
      ok = b instanceof SharedArrayBuffer && b.byteLength > this.tagPtr && new Int32Array(b, this.tagPtr, 1)[0] === this.tag;
      this.checked.set(b, ok);
    }
    if (!ok)
      throw new RangeError(`wasm backend: ${what} is not a buffer of this backend (allocate it with backend.alloc)`);
    return a.byteOffset;
  }
}
