// A MatmulRunner that splits the rows of out (M, N) = A · Bᵀ across worker threads. Operands are
// Float32Arrays on SharedArrayBuffers (parameters.ts sharedFloat32); a worker learns a buffer once,
// through a MessagePort it drains synchronously (receiveMessageOnPort), and then waits on an Atomics
// generation counter, so a call costs no event-loop round trip. Each output element is computed by one
// thread with the same loop as the serial kernel, so results are bit-identical to the serial runner.

import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread, MessageChannel, MessagePort, receiveMessageOnPort, Worker, workerData } from "node:worker_threads";
import { matmulABtRows, serialMatmul, type MatmulRunner } from "./autograd/matmul.js";

const SELF = fileURLToPath(import.meta.url);
// control words
const GEN = 0, DONE = 1, OUT = 2, A = 3, B = 4, OUT_OFF = 5, A_OFF = 6, B_OFF = 7, M = 8, N = 9, K = 10, ACC = 11, QUIT = 12;
const CTRL_WORDS = 16;

export interface ThreadedMatmul extends MatmulRunner { threads: number; dispose(): void }

/** Row range of thread w out of `threads` (blocks of 4 rows). */
function rowsFor(w: number, threads: number, M: number): [number, number] {
  const blocks = Math.ceil(M / 4);
  const lo = Math.floor((blocks * w) / threads) * 4, hi = Math.min(M, Math.floor((blocks * (w + 1)) / threads) * 4);
  return [Math.min(lo, M), hi];
}

/** A runner using `threads` threads (this one plus threads − 1 workers); serial when workers cannot start. */
export async function createThreadedMatmul(threads: number): Promise<ThreadedMatmul> {
  if (threads <= 1 || !SELF.endsWith(".js") || !fs.existsSync(SELF)) return { ...serialMatmul, threads: 1, dispose() {} };
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  const ports: MessagePort[] = [];
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let w = 1; w < threads; w++) {
    const ch = new MessageChannel();
    const worker = new Worker(SELF, { workerData: { ctrl, port: ch.port2, index: w, threads }, transferList: [ch.port2] });
    worker.unref();
    ready.push(new Promise((res, rej) => { worker.once("online", () => res()); worker.once("error", rej); }));
    ports.push(ch.port1);
    workers.push(worker);
  }
  await Promise.all(ready);
  const ids = new WeakMap<ArrayBufferLike, number>();
  let nextId = 0;
  const idOf = (buf: ArrayBufferLike): number => {
    let id = ids.get(buf);
    if (id === undefined) {
      id = nextId++;
      ids.set(buf, id);
      for (const p of ports) p.postMessage({ id, buf });
    }
    return id;
  };
  return {
    threads,
    abt(out, a, b, m, n, k, accumulate) {
      if (m < 8 * threads || !(out.buffer instanceof SharedArrayBuffer && a.buffer instanceof SharedArrayBuffer && b.buffer instanceof SharedArrayBuffer)) {
        matmulABtRows(out, a, b, 0, m, n, k, accumulate);
        return;
      }
      ctrl[OUT] = idOf(out.buffer); ctrl[A] = idOf(a.buffer); ctrl[B] = idOf(b.buffer);
      ctrl[OUT_OFF] = out.byteOffset / 4; ctrl[A_OFF] = a.byteOffset / 4; ctrl[B_OFF] = b.byteOffset / 4;
      ctrl[M] = m; ctrl[N] = n; ctrl[K] = k; ctrl[ACC] = accumulate ? 1 : 0;
      Atomics.store(ctrl, DONE, 0);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      const [lo, hi] = rowsFor(0, threads, m);
      matmulABtRows(out, a, b, lo, hi, n, k, accumulate);
      for (;;) {
        const d = Atomics.load(ctrl, DONE);
        if (d === threads - 1) break;
        Atomics.wait(ctrl, DONE, d);
      }
    },
    dispose() {
      Atomics.store(ctrl, QUIT, 1);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      for (const p of ports) p.close();
    },
  };
}

if (!isMainThread && (workerData as { ctrl?: Int32Array })?.ctrl) {
  const { ctrl, port, index, threads } = workerData as { ctrl: Int32Array; port: MessagePort; index: number; threads: number };
  const bufs = new Map<number, SharedArrayBuffer>();
  let seen = Atomics.load(ctrl, GEN);
  for (;;) {
    Atomics.wait(ctrl, GEN, seen);
    seen = Atomics.load(ctrl, GEN);
    if (Atomics.load(ctrl, QUIT)) break;
    for (let msg = receiveMessageOnPort(port); msg; msg = receiveMessageOnPort(port)) {
      const { id, buf } = msg.message as { id: number; buf: SharedArrayBuffer };
      bufs.set(id, buf);
    }
    const m = ctrl[M], n = ctrl[N], k = ctrl[K];
    const out = new Float32Array(bufs.get(ctrl[OUT])!, ctrl[OUT_OFF] * 4);
    const a = new Float32Array(bufs.get(ctrl[A])!, ctrl[A_OFF] * 4);
    const b = new Float32Array(bufs.get(ctrl[B])!, ctrl[B_OFF] * 4);
    const [lo, hi] = rowsFor(index, threads, m);
    if (lo < hi) matmulABtRows(out, a, b, lo, hi, n, k, ctrl[ACC] === 1);
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
  port.close();
}
