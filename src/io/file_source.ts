// ByteSource and ModelFiles over the local file system (Node).

import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError } from "../errors.js";
import type { ByteSource, ModelFiles } from "./byte_source.js";

/** Open a file for random access; the fs error (ENOENT...) if it cannot be opened. */
export function fileSource(file: string): ByteSource {
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  let closed = false;
  return {
    name: file,
    size,
    read(position, length, into) {
      const out = into ? into.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, position + done);
        if (n === 0) throw new CheckpointError(`${file}: unexpected end of file reading ${length} bytes at ${position}`);
        done += n;
      }
      return out;
    },
    close() {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
}

/** The files of a local directory. */
export function directoryFiles(dir: string): ModelFiles {
  return {
    where: dir,
    path: (name) => path.join(dir, name),
    has: (name) => fs.existsSync(path.join(dir, name)),
    open(name) {
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) throw new CheckpointError(`${file}: not found`);
      return fileSource(file);
    },
  };
}
