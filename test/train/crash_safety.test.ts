// Crash safety through the built CLI (dist/): a write killed with SIGKILL never leaves a partial file under the
// final name (temp names are hidden and removed by the next writer); training killed mid-checkpoint resumes from
// the last complete one; and Ctrl-C after the log pipe closed (`openelm train ... 2>&1 | tee log`, tee gone)
// still saves the checkpoint, because saving never depends on stdout or stderr being writable.

import { spawn } from "node:child_process";
import { runProcess } from "../cli/run.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { writeFileAtomic } from "../../src/io/atomic_write.js";
import { readSafetensors } from "../../src/io/safetensors.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
let tmp = "";

const MODEL = {
  model_type: "openelm", vocab_size: 32000, num_transformer_layers: 1, model_dim: 16, head_dim: 8,
  num_query_heads: [2], num_kv_heads: [1], ffn_multipliers: [1.0], ffn_dim_divisor: 8, max_context_length: 32,
};
const RECIPE = { model: MODEL, context_length: 16, batch_size: 2, max_iterations: 100000, warmup_iterations: 2, eval_every: 0, save_every: 0 };

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-crash-"));
  const text = Array.from({ length: 6 }, (_, d) => `Chapter ${d}. It was a dark and stormy night; the rain fell in torrents.`.repeat(8)).join("\n\n");
  fs.writeFileSync(path.join(tmp, "a.txt"), text);
  fs.writeFileSync(path.join(tmp, "recipe.json"), JSON.stringify(RECIPE));
  // wider embeddings and a save every step, so a checkpoint takes long enough to be caught mid-write
  fs.writeFileSync(path.join(tmp, "save-every-step.json"), JSON.stringify({ ...RECIPE, model: { ...MODEL, model_dim: 64, head_dim: 16, num_query_heads: [4] }, save_every: 1 }));
  const r = await runProcess([CLI, "data", "prepare", "--input", "a.txt", "--out", "data", "--threads", "1"], { cwd: tmp });
  expect(r.stderr).toBe("");
}, 30_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("a writer killed mid-write (SIGKILL): the previous file is intact, the temp file is hidden and removed by the next write", async () => {
  const target = path.join(tmp, "model.gguf");
  fs.writeFileSync(target, "previous complete version");
  // the child writes 1 MiB through writeFileAtomicStreaming (as quantize, data prepare and checkpoints do), says so, and hangs
  const script = `import { writeFileAtomicStreaming } from ${JSON.stringify(path.join(ROOT, "dist/io/atomic_write.js"))};
    writeFileAtomicStreaming(${JSON.stringify(target)}, (write) => { write(new Uint8Array(1 << 20).fill(7)); process.stdout.write("mid\\n"); for (;;) {} });`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script]);
  await new Promise<void>((resolve) => child.stdout.on("data", () => { child.kill("SIGKILL"); resolve(); }));
  await new Promise((resolve) => child.on("exit", resolve));
  expect(fs.readFileSync(target, "utf-8")).toBe("previous complete version");
  const temps = fs.readdirSync(tmp).filter((f) => f.startsWith(".model.gguf.tmp-"));
  expect(temps).toHaveLength(1);
  expect(temps[0]).toMatch(new RegExp(`^\\.model\\.gguf\\.tmp-${child.pid}-\\d+$`)); // never *.gguf
  expect(fs.statSync(path.join(tmp, temps[0])).size).toBe(1 << 20);
  writeFileAtomic(target, "next version");
  expect(fs.readFileSync(target, "utf-8")).toBe("next version");
  expect(fs.readdirSync(tmp).filter((f) => f.startsWith(".model.gguf.tmp-"))).toEqual([]);
});

/** Run train; `control(child, out)` may signal or close pipes. Resolves with exit code, signal, stderr seen. */
function train(args: string[], control: (child: ReturnType<typeof spawn>, err: () => string) => void) {
  const child = spawn(process.execPath, [CLI, "train", "--data", "data", ...args], { cwd: tmp });
  let err = "";
  child.stderr.on("data", (d) => { err += d; });
  child.stdout.on("data", () => {});
  control(child, () => err);
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, err })));
}

const stateOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(tmp, dir, "trainer_state.json"), "utf-8"));

test("Ctrl-C after the stdout/stderr pipe closed (and a SIGPIPE) still saves the checkpoint and exits 0", async () => {
  const r = await train(["--config", "recipe.json", "--out", "piped"], (child, err) => {
    const onData = () => {
      if (!/step 3\//.test(err())) return;
      child.stderr!.off("data", onData);
      child.stderr!.destroy(); // the reader is gone: the next log line gets EPIPE
      child.stdout!.destroy();
      setTimeout(() => child.kill("SIGPIPE"), 200);
      setTimeout(() => child.kill("SIGINT"), 400);
    };
    child.stderr!.on("data", onData);
  });
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  const state = stateOf("piped/checkpoint");
  expect(state.step).toBeGreaterThan(3); // it kept training after the pipe closed, until Ctrl-C
  const metrics = fs.readFileSync(path.join(tmp, "piped/metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l));
  expect(metrics.at(-1).step).toBe(state.step);
  readSafetensors(path.join(tmp, "piped/checkpoint/model.safetensors"));
}, 60_000);

test("training killed mid-checkpoint (SIGKILL) resumes from the last complete checkpoint", async () => {
  const out = path.join(tmp, "killed");
  fs.mkdirSync(out);
  let caught = 0;
  for (let attempt = 0; attempt < 4 && caught === 0; attempt++) {
    const resume = fs.existsSync(path.join(out, "checkpoint")) || fs.existsSync(path.join(out, ".checkpoint.old"));
    let saves = 0;
    const r = await train(["--config", "save-every-step.json", "--out", "killed", ...(resume ? ["--resume"] : [])], (child) => {
      // kill the moment the third checkpoint of this run starts being written
      const w = fs.watch(out, (_ev, name) => {
        if (!name?.startsWith(".checkpoint.tmp-") || !fs.existsSync(path.join(out, name)) || ++saves < 3) return;
        child.kill("SIGKILL");
        w.close();
      });
      child.on("exit", () => w.close());
    });
    expect(r.signal).toBe("SIGKILL");
    if (fs.readdirSync(out).some((f) => f.startsWith(".checkpoint.tmp-"))) caught++;
    // whatever the moment: a complete checkpoint under the final name, or the previous one kept as .checkpoint.old
    const dir = fs.existsSync(path.join(out, "checkpoint/trainer_state.json")) ? "killed/checkpoint" : "killed/.checkpoint.old";
    expect(stateOf(dir).step).toBeGreaterThanOrEqual(2);
    for (const f of ["model.safetensors", "optimizer.safetensors"]) readSafetensors(path.join(tmp, dir, f)); // whole files
  }
  expect(caught).toBe(1); // at least one kill landed while the checkpoint was being written
  const before = stateOf(fs.existsSync(path.join(out, "checkpoint/trainer_state.json")) ? "killed/checkpoint" : "killed/.checkpoint.old").step;
  const r = await train(["--config", "save-every-step.json", "--out", "killed", "--resume", "--stop-after", "1"], () => {});
  expect(r.err).toContain(`resumed killed/`);
  expect(r.code).toBe(0);
  expect(stateOf("killed/checkpoint").step).toBe(before + 1);
  expect(fs.readdirSync(out).filter((f) => f.startsWith(".checkpoint."))).toEqual([]); // the killed run's temp dir is gone
}, 120_000);
