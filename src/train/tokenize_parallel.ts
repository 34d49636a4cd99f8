// Parallel tokenization for `openelm data prepare`: documents are dealt to worker threads, each with its
// own SentencePiece instance, and the ids come back in document order. Runs only from the built
// package (the worker is dist/train/tokenize_parallel.js itself); callers fall back to one thread.

import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const SELF = fileURLToPath(import.meta.url);

/** Whether workers can be started (false under a TypeScript test runner). */
export function canTokenizeInParallel(): boolean {
  return SELF.endsWith(".js") && fs.existsSync(SELF);
}

/** BOS + ids of every document, using `threads` workers. */
export async function encodeParallel(docs: string[], tokenizerPath: string | undefined, threads: number,
  onDone: (n: number) => void): Promise<number[][]> {
  const out: number[][] = new Array(docs.length);
  const jobs = Array.from({ length: threads }, (_, w) => docs.map((_, i) => i).filter((i) => i % threads === w));
  await Promise.all(jobs.map((idx) => new Promise<void>((resolve, reject) => {
    if (idx.length === 0) return resolve();
    const worker = new Worker(SELF, { workerData: { tokenizerPath, docs: idx.map((i) => docs[i]) } });
    let k = 0;
    worker.on("message", (m: { ids?: number[]; error?: string }) => {
      if (m.error) { reject(new Error(m.error)); return; }
      out[idx[k++]] = m.ids!;
      onDone(1);
    });
    worker.on("error", reject);
    worker.on("exit", (code) => (k === idx.length ? resolve() : reject(new Error(`tokenizer worker exited with code ${code}`))));
  })));
  return out;
}

if (!isMainThread && parentPort && (workerData as { docs?: string[] })?.docs) {
  const { tokenizerPath, docs } = workerData as { tokenizerPath?: string; docs: string[] };
  const { loadTokenizer } = await import("../tokenizer/sentencepiece.js");
  try {
    const tok = await loadTokenizer(tokenizerPath);
    for (const d of docs) parentPort.postMessage({ ids: tok.encode(d, { bos: true }) });
  } catch (e) {
    parentPort.postMessage({ error: (e as Error).message });
  }
}
