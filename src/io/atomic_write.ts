// Write to a temp name in the same directory, fsync, then rename: a crash never leaves a half-written file
// under the final name.

import * as fs from "node:fs";
import * as path from "node:path";

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
}

/** Write data (one buffer or several, written in order) to target atomically. */
export function writeFileAtomic(target: string, data: Uint8Array | string | Array<Uint8Array>): void {
  const parts = Array.isArray(data) ? data : [typeof data === "string" ? Buffer.from(data) : data];
  writeFileAtomicStreaming(target, (write) => { for (const p of parts) write(p); });
}

/**
 * Write to target atomically the bytes that fill passes to write, in order (for files too large to hold in
 * memory at once). If fill throws, the temp file is removed and target is left as it was.
 */
export function writeFileAtomicStreaming(target: string, fill: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, "w");
  try {
    fill((p) => {
      let off = 0;
      while (off < p.byteLength) off += fs.writeSync(fd, p, off, p.byteLength - off);
    });
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
}
