// The device side of the WebGPU backend: one GPUBuffer per alloc'd Float32Array (found from the array's
// ArrayBuffer, the element offset from byteOffset), pipelines compiled once, and one open command encoder
// that every kernel call appends a dispatch to. Nothing is submitted until a read (or a write, which must
// land after the work queued before it), so a decode step is one submit and one readback of the logits.
// Float32Arrays from alloc() are handles (their contents are what the caller last wrote, for write());
// results come back as new arrays from read(). Kernel parameters (sizes, element offsets, ids, cos/sin tables) go into a ring of 256-byte-aligned slots
// that is written to the device once per submit; each dispatch binds its own slot (binding 0).

/// <reference types="@webgpu/types" />

/** A Float32Array of this backend resolved to its device buffer and element offset. */
export interface BufferRef { buffer: GPUBuffer; offset: number }

/** Little-endian words of one kernel's parameter struct, in WGSL field order; `tail` is a trailing runtime array. */
export interface Params { u32: number[]; f32?: number[]; tail?: Float32Array | Uint32Array }

const RING_BYTES = 4 << 20;
const BIND_GROUP_CACHE = 8192;

export class GpuContext {
  private readonly buffers = new WeakMap<ArrayBufferLike, GPUBuffer>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  private readonly ring: GPUBuffer;
  private readonly ringCpu = new ArrayBuffer(RING_BYTES);
  private ringUsed = 0;
  private readonly align: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly staging: GPUBuffer[] = [];
  /**
   * Bind groups by pipeline, parameter slot and buffers: a decode step dispatches the same kernels on the
   * same buffers at the same ring offsets every time, and creating a bind group costs more on the JS
   * thread than the dispatch itself. Cleared when it grows past BIND_GROUP_CACHE (prompts of new lengths).
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private readonly layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  /** Bound where a kernel's optional operand is absent (a null QK-norm weight). */
  readonly dummy: GPUBuffer;
  /** The first validation or out-of-memory error the device reported; thrown by the next read. */
  private deviceError: string | null = null;

  /**
   * @param workgroupKernels use the kernels with workgroup memory and barriers (GPUs) where one exists;
   *   false: the barrier-free ones (CPU adapters, where a barrier costs a thread switch per workgroup).
   */
  constructor(readonly device: GPUDevice, readonly workgroupKernels = false) {
    this.align = device.limits.minStorageBufferOffsetAlignment;
    this.ring = device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    device.addEventListener("uncapturederror", (e) => { this.deviceError ??= (e as GPUUncapturedErrorEvent).error.message; });
  }

  /** A zeroed device buffer of n floats and its CPU mirror. */
  alloc(n: number): Float32Array {
    this.bindGroups.clear(); // new buffers usually replace old ones (work buffers grown): let those go
    const bytes = n * 4;
    if (bytes > this.device.limits.maxStorageBufferBindingSize)
      throw new RangeError(`webgpu backend: a buffer of ${n} floats passes the device's binding limit of ${this.device.limits.maxStorageBufferBindingSize} bytes`);
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const mirror = new Float32Array(n);
    this.buffers.set(mirror.buffer, buffer);
    return mirror;
  }

  /** A read-only device buffer holding bytes (weights), padded to 16 bytes. */
  upload(bytes: Uint8Array, what: string): GPUBuffer {
    if (bytes.byteLength > this.device.limits.maxStorageBufferBindingSize)
      throw new RangeError(`webgpu backend: ${what} has ${bytes.byteLength} bytes, past the device's binding limit of ${this.device.limits.maxStorageBufferBindingSize}`);
    const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16); // weights.wgsl reads 16-byte groups
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(bytes);
    buffer.unmap();
    return buffer;
  }

  /** The device buffer and element offset of a, which must hold at least n floats. */
  ref(a: Float32Array, n: number, what: string): BufferRef {
    const buffer = this.buffers.get(a.buffer);
    if (!buffer) throw new RangeError(`webgpu backend: ${what} was not allocated by this backend (use alloc or loadVector)`);
    if (a.length < n) throw new RangeError(`webgpu backend: ${what} has ${a.length} floats, needs ${n}`);
    return { buffer, offset: a.byteOffset / 4 };
  }

  /** The compute pipeline of one entry point of a WGSL source, with override constants. */
  pipeline(code: string, entry: string, constants: Record<string, number> = {}): GPUComputePipeline {
    // Keyed by the source string itself (its hash is cached on it), not a key built from it: hashing a
    // fresh concatenation of the whole source on every dispatch cost more than the dispatch.
    let byEntry = this.pipelines.get(code);
    if (!byEntry) this.pipelines.set(code, (byEntry = new Map()));
    let key = entry;
    for (const c in constants) key += `|${c}=${constants[c]}`;
    let p = byEntry.get(key);
    if (!p) {
      let module = this.modules.get(code);
      if (!module) { module = this.device.createShaderModule({ code }); this.modules.set(code, module); }
      p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: entry, constants } });
      byEntry.set(key, p);
    }
    return p;
  }

  /** Queue one dispatch: params at binding 0, then the buffers at bindings 1, 2, … (null: a binding this entry point leaves unused). */
  dispatch(pipeline: GPUComputePipeline, params: Params, buffers: (GPUBuffer | null)[], groups: [number, number?, number?]): void {
    const slot = this.writeParams(params);
    if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    let key = `${this.id(pipeline)}:${slot.offset}:${slot.size}`;
    for (const b of buffers) key += b ? `:${this.id(b)}` : ":-";
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ring, offset: slot.offset, size: slot.size } }];
      buffers.forEach((buffer, i) => { if (buffer) entries.push({ binding: i + 1, resource: { buffer } }); });
      let layout = this.layouts.get(pipeline);
      if (!layout) { layout = pipeline.getBindGroupLayout(0); this.layouts.set(pipeline, layout); }
      bindGroup = this.device.createBindGroup({ layout, entries });
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.clear();
      this.bindGroups.set(key, bindGroup);
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
  }

  private id(o: object): number {
    let i = this.ids.get(o);
    if (i === undefined) this.ids.set(o, (i = this.nextId++));
    return i;
  }

  private writeParams(p: Params): { offset: number; size: number } {
    const words = p.u32.length + (p.f32?.length ?? 0) + (p.tail?.length ?? 0);
    const size = Math.max(16, words * 4);
    if (size > RING_BYTES) throw new RangeError(`webgpu backend: ${size} bytes of kernel parameters exceed the ${RING_BYTES}-byte ring`);
    if (this.ringUsed + size > RING_BYTES) this.submit();
    const offset = this.ringUsed;
    const u = new Uint32Array(this.ringCpu, offset, words), f = new Float32Array(this.ringCpu, offset, words);
    let i = 0;
    for (const v of p.u32) u[i++] = v;
    for (const v of p.f32 ?? []) f[i++] = v;
    if (p.tail instanceof Float32Array) f.set(p.tail, i);
    else if (p.tail) u.set(p.tail, i);
    this.ringUsed = Math.ceil((offset + size) / this.align) * this.align;
    return { offset, size };
  }

  /** Send the queued dispatches and the parameters they read. */
  submit(): void {
    if (this.pass) { this.pass.end(); this.pass = null; }
    if (this.ringUsed > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringCpu, 0, this.ringUsed);
    this.ringUsed = 0;
    if (this.encoder) { this.device.queue.submit([this.encoder.finish()]); this.encoder = null; }
  }

  /** Copy the CPU mirror view a to the device, after everything queued so far. */
  write(a: Float32Array): void {
    const r = this.ref(a, 0, "write buffer");
    this.submit();
    this.device.queue.writeBuffer(r.buffer, r.offset * 4, a.buffer, a.byteOffset, a.byteLength);
  }

  /** A new array with the device values of view a, once the queued work is done. */
  async read(a: Float32Array): Promise<Float32Array> {
    const r = this.ref(a, 0, "read buffer");
    const bytes = a.byteLength;
    if (bytes === 0) return new Float32Array(0);
    this.submit();
    // A staging buffer per read in flight (two generations may read at once); reused afterwards.
    const i = this.staging.findIndex((s) => s.size >= bytes);
    const st = i >= 0 ? this.staging.splice(i, 1)[0]
      : this.device.createBuffer({ size: Math.ceil(bytes / 256) * 256, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(r.buffer, r.offset * 4, st, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    let out: Float32Array;
    try {
      await st.mapAsync(GPUMapMode.READ, 0, bytes);
      out = new Float32Array(st.getMappedRange(0, bytes).slice(0));
      st.unmap();
    } finally {
      this.staging.push(st);
    }
    if (this.deviceError) throw new Error(`webgpu backend: the device reported: ${this.deviceError}`);
    return out;
  }

  destroy(): void {
    this.device.destroy();
  }
}

/** Workgroups for n items at wg a group, folded into x·y under the 65535-a-dimension limit. */
export function grid(n: number, wg: number): [number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}
