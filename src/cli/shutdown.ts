// Signals and closed output for the CLI. Output to a closed pipe (EPIPE: `| head`, a `| tee` killed by the
// same Ctrl-C) never throws, so finishing a write never depends on stdout or stderr being writable; a command
// that must finish its work (train's checkpoint) turns SIGINT / SIGTERM / SIGHUP into a request to stop.
// Node ignores SIGPIPE itself, so a closed pipe shows up only as EPIPE on the next write.

let guarded = 0;
const closed = new Set<NodeJS.WritableStream>();

/** Once per process: swallow EPIPE on stdout and stderr. stdout closed outside `whileStopping` ends the run (exit 0). */
export function installOutputGuards(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED" && e.code !== "ECONNRESET") throw e;
      closed.add(s);
      // Nobody reads the results any more (`openelm logits ... | head`): stop quietly, unless work must finish first.
      if (s === process.stdout && guarded === 0) process.exit(0);
    });
  }
}

/** Write to stderr if anyone still reads it; never throws. */
export function note(text: string): void {
  if (closed.has(process.stderr) || process.stderr.destroyed) return;
  try { process.stderr.write(text); } catch { closed.add(process.stderr); }
}

const SIGNAL_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Run `work` with SIGINT, SIGTERM and SIGHUP turned into calls of `stop(signal)`: the work finishes what it is
 * doing (e.g. saves) and returns. A second signal exits at once with 128 + its number; whatever was being
 * written is then lost, but writes go to temp names, so the last complete file keeps its name.
 */
export async function whileStopping<T>(stop: (signal: NodeJS.Signals) => void, work: () => Promise<T>): Promise<T> {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (SIGNAL_CODES[signal] ?? 2));
    stopping = true;
    stop(signal);
  };
  const signals = Object.keys(SIGNAL_CODES) as NodeJS.Signals[];
  for (const s of signals) process.on(s, handler);
  guarded++;
  try {
    return await work();
  } finally {
    guarded--;
    for (const s of signals) process.off(s, handler);
  }
}
