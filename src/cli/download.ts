// openelm download REPO: fetch a model (or, with --repo-type dataset, a dataset) into the Hugging Face cache
// (io/hub.ts), with a progress bar (bytes, rate, ETA). Prints the snapshot directory, which any --model
// accepts (and where `openelm eval` finds a dataset's parquet files).
// Honours HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE.

import type { Command } from "commander";
import cliProgress from "cli-progress";
import { downloadSnapshot, hubSettingsFromEnv, MODEL_FILE_PATTERNS, type ProgressEvent } from "../io/hub.js";
import { missingModelFiles } from "../io/hf_cache.js";
import { choiceArg, collect } from "./args.js";

interface Opts { revision: string; repoType: "model" | "dataset"; include: string[]; all?: boolean; quiet?: boolean }

function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** One bar per file: cli-progress draws it on a terminal; elsewhere a line per finished file. */
export function progressReporter(quiet: boolean, out: NodeJS.WriteStream = process.stderr): (e: ProgressEvent) => void {
  let bar: cliProgress.SingleBar | null = null;
  let t0 = 0, from = 0;
  const tty = out.isTTY === true;
  return (e) => {
    if (quiet) return;
    if (e.phase === "start") {
      t0 = performance.now();
      from = e.resumedFrom;
      if (e.resumedFrom > 0) out.write(`resuming ${e.file} at ${formatBytes(e.resumedFrom)}\n`);
      if (tty) {
        bar = new cliProgress.SingleBar({
          format: "{file} |{bar}| {percentage}% {done}/{size} {rate} ETA {eta_formatted}",
          stream: out, hideCursor: true, etaBuffer: 50,
        }, cliProgress.Presets.shades_classic);
        bar.start(e.total, e.bytes, { file: e.file, done: formatBytes(e.bytes), size: formatBytes(e.total), rate: "" });
      }
      return;
    }
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? `${formatBytes((e.bytes - from) / secs)}/s` : "";
    if (e.phase === "data") bar?.update(e.bytes, { done: formatBytes(e.bytes), rate });
    if (e.phase === "done") {
      if (bar) { bar.update(e.total, { done: formatBytes(e.total), rate }); bar.stop(); bar = null; }
      else out.write(`${e.file}: ${formatBytes(e.total)} in ${secs.toFixed(1)} s (${rate})\n`);
    }
  };
}

export function register(program: Command): void {
  program.command("download")
    .description("download a model or dataset from the Hugging Face hub into its cache (resumable, verified); prints the snapshot directory")
    .argument("<repo>", "hub repository id, e.g. apple/OpenELM-270M-Instruct or (with --repo-type dataset) allenai/ai2_arc")
    .option("--repo-type <type>", "model or dataset", choiceArg(["model", "dataset"] as const), "model")
    .option("--revision <rev>", "branch, tag or commit (datasets: refs/convert/parquet is the hub's parquet export)", "main")
    .option("--include <glob>", `files to fetch (repeatable; * within a folder, ** across; default for a model: ${MODEL_FILE_PATTERNS.join(" ")}; for a dataset: all)`, collect, [])
    .option("--all", "fetch every file of the repository")
    .option("-q, --quiet", "no progress output")
    .action(async (repo: string, o: Opts) => {
      const settings = hubSettingsFromEnv();
      const include = o.all ? ["**"] : o.include.length ? o.include : undefined;
      const snap = await downloadSnapshot(repo, settings, { revision: o.revision, repoType: o.repoType, include, onProgress: progressReporter(!!o.quiet) });
      if (!o.quiet) {
        const missing = o.repoType === "model" ? missingModelFiles(snap.dir) : [];
        process.stderr.write(`${repo}@${snap.sha}: ${snap.downloaded.length} file(s) downloaded` +
          (missing.length ? `; note: no ${missing.join(", ")} (not a loadable model directory)` : "") + "\n");
      }
      process.stdout.write(snap.dir + "\n");
    });
}
