// Write to a temp name in the same directory, fsync, then rename: a crash never leaves a half-written file
// under the final name.

import * as fs from "node:fs";
import * as path from "node:path";

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
}

/**
 * Remove what killed writers of target left behind: `.NAME.tmp-PID[-…]` files or directories whose process is
 * gone (a writer killed mid-write cannot clean up; its temp name never looks like the finished file).
 */
export function removeStaleTemps(target: string): void {
  const dir = path.dirname(target), prefix = `.${path.basename(target)}.tmp-`;
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

/** True while process pid exists (temp and lock files name their writer's pid). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
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
  removeStaleTemps(target);
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
