// Random access to the bytes of a file, whatever holds it: a Node file descriptor (file_source.ts), bytes in
// memory, or in a browser worker a File / Blob (read synchronously with FileReaderSync). The checkpoint
// readers (safetensors, GGUF) take a ByteSource, so one parser serves the CLI and the browser.

import { CheckpointError } from "../errors.js";

export interface ByteSource {
  /** Where the bytes come from (a path, a file name, a URL), for error messages. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `position`, into `into` (at its start) when given, else a fresh array. */
  read(position: number, length: number, into?: Uint8Array): Uint8Array;
  close(): void;
}

/** A ByteSource over bytes in memory (reads are copies, so callers may keep them). */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read(position, length, into) {
      if (position + length > bytes.byteLength)
        throw new CheckpointError(`${name}: unexpected end of file reading ${length} bytes at ${position} (the file has ${bytes.byteLength})`);
      const out = into ? into.subarray(0, length) : new Uint8Array(length);
      out.set(bytes.subarray(position, position + length));
      return out;
    },
    close() {},
  };
}

/** The files of a model folder, however they are stored (a directory, files picked in a browser, a cache). */
export interface ModelFiles {
  /** The folder, for messages. */
  readonly where: string;
  /** The path of a file in it, for messages. */
  path(name: string): string;
  has(name: string): boolean;
  /** Open a file; throws CheckpointError naming it when missing. */
  open(name: string): ByteSource;
}

/** A whole file of a model folder as UTF-8 text. */
export function readText(files: ModelFiles, name: string): string {
  const src = files.open(name);
  try { return new TextDecoder("utf-8").decode(src.read(0, src.size)); } finally { src.close(); }
}
