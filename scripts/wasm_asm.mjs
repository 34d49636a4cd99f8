// The x86 code V8 (TurboFan) emits for chosen kernel functions, and per innermost loop the instructions of
// one iteration by kind: SIMD multiply/dot, other SIMD arithmetic, unpack/shuffle/shift/logic/convert, plain
// loads, V8's vector spills and reloads (stack slots), stores, scalar (address, counter, branch, V8's loop stack
// check), and how many instructions read memory. A loop is a backward jump's range; V8 lays some loops out with
// their tail ahead of the header or with blocks an iteration skips, so read --code before dividing by a trip. This counts what the engine runs, for comparing with another engine's disassembly (objdump -d).
//   node scripts/wasm_asm.mjs [--relaxed] [--names FILE] [--code] [--all] NAME...
// NAME: a substring of a function name (e.g. "tile16<i8>", "matmulQuant<u8>"); none: list the functions.
// The shipped builds carry no name section: --names takes a build of the same target with names
// (`npx asc --config src/kernels/wasm/asconfig.json --target relaxed --debug --outFile /tmp/k.wasm`);
// it is used only if every function body is byte-identical to the shipped one (--debug adds only names).
// --code: print each chosen function's whole code too; --all: outer loops too (their counts include the
// inner loops' code once, not times their trip count). Needs `npm run build:kernels` first.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: {
  relaxed: { type: "boolean", default: false }, all: { type: "boolean", default: false }, names: { type: "string" }, code: { type: "boolean", default: false },
  child: { type: "string" },
} });

if (a.child) { // compiled under the V8 flags below; V8 prints the code of every function
  new WebAssembly.Module(fs.readFileSync(a.child));
  process.exit(0);
}

const wasmPath = new URL(`../dist/kernels/wasm/${a.relaxed ? "kernels_relaxed" : "kernels"}.wasm`, import.meta.url).pathname;
const wasm = fs.readFileSync(wasmPath);

function leb(b, p) { let r = 0, s = 0, x; do { x = b[p++]; r += (x & 127) * 2 ** s; s += 7; } while (x & 128); return [r, p]; }

/** Function bodies (code section), the count of imported functions, and the name section's function names. */
function parseWasm(buf) {
  let p = 8; const out = { bodies: [], imports: 0, names: new Map() };
  while (p < buf.length) {
    const id = buf[p++]; let size; [size, p] = leb(buf, p); const end = p + size;
    if (id === 2) {
      let n, q = p; [n, q] = leb(buf, q);
      for (let i = 0; i < n; i++) {
        let l; [l, q] = leb(buf, q); q += l; [l, q] = leb(buf, q); q += l;
        const kind = buf[q++];
        if (kind === 0) { out.imports++; [, q] = leb(buf, q); }
        else if (kind === 1) { q++; const f = buf[q++]; [, q] = leb(buf, q); if (f & 1) [, q] = leb(buf, q); }
        else if (kind === 2) { const f = buf[q++]; [, q] = leb(buf, q); if (f & 1) [, q] = leb(buf, q); }
        else q += 2; // global: type, mutability
      }
    } else if (id === 10) {
      let n, q = p; [n, q] = leb(buf, q);
      for (let i = 0; i < n; i++) { let l; [l, q] = leb(buf, q); out.bodies.push(buf.subarray(q, q + l)); q += l; }
    } else if (id === 0) {
      let l, q = p; [l, q] = leb(buf, q);
      if (buf.subarray(q, q + l).toString() === "name") {
        q += l;
        while (q < end) {
          const sub = buf[q++]; let ss; [ss, q] = leb(buf, q); const se = q + ss;
          if (sub === 1) {
            let n; [n, q] = leb(buf, q);
            for (let i = 0; i < n; i++) {
              let idx, len; [idx, q] = leb(buf, q); [len, q] = leb(buf, q);
              out.names.set(idx, buf.subarray(q, q + len).toString().replace(/^src\/kernels\/wasm\/assembly\//, "")); q += len;
            }
          }
          q = se;
        }
      }
    }
    p = end;
  }
  return out;
}

const shipped = parseWasm(wasm);
let names = shipped.names;
if (a.names) {
  const named = parseWasm(fs.readFileSync(a.names));
  const same = named.bodies.length === shipped.bodies.length && named.imports === shipped.imports &&
    named.bodies.every((b, i) => Buffer.compare(b, shipped.bodies[i]) === 0);
  if (!same) { console.error(`--names ${a.names}: its function bodies differ from ${wasmPath}; build it from the same sources and target`); process.exit(1); }
  names = named.names;
}
const nameOf = (i) => names.get(i) ?? `wasm-function[${i}]`;

const flags = ["--no-liftoff", "--no-wasm-lazy-compilation", "--print-wasm-code"];
if (a.relaxed && !WebAssembly.validate(wasm)) flags.push("--experimental-wasm-relaxed-simd"); // Node 20; later V8s ship it
const run = spawnSync(process.execPath, [...flags, new URL(import.meta.url).pathname, "--child", wasmPath],
  { encoding: "utf8", maxBuffer: 1 << 30 });
if (run.status !== 0) { console.error(run.stderr); process.exit(1); }

/** index -> instructions [{ off, text }] of V8's listing. */
const funcs = new Map();
for (const block of run.stdout.split("--- WebAssembly code ---").slice(1)) {
  const idx = /^index: (\d+)$/m.exec(block);
  if (!idx || !/^compiler: TurboFan$/m.test(block)) continue;
  const ins = [];
  for (const line of block.split("\n")) {
    const m = /^0x[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.*)$/.exec(line);
    if (m) ins.push({ off: parseInt(m[1], 16), text: m[2].replace(/^REX\.W /, "").trim() });
  }
  funcs.set(Number(idx[1]), ins);
}

// Instruction kinds (V8's mnemonics, SSE or VEX forms).
const DOT = /^v?(pmaddwd|pmaddubsw|pdpbusds?|pdpwssds?|pmulld|pmullw|mulps|mulpd|vfn?m(add|sub)\d+ps|dpbf16ps)\b/;
const ARITH = /^v?(padd[bwdq]|psub[bwdq]|paddus?[bw]|psubus?[bw]|addps|subps|maxps|minps|phaddd)\b/;
const SHUF = /^v?(pand|pandn|por|pxor|andps|orps|xorps|psrl[wdq]|psra[wdq]|psll[wdq]|psrldq|pslldq|pshuf[bdlh]w?|pshufd|punpck\w+|shufps|unpck\w+|pblend\w+|blendv?ps|packs\w+|packus\w+|pmov[sz]x\w+|pbroadcast\w|vpbroadcast\w|broadcastss|movhlps|movlhps|palignr|pinsr\w|pextr\w|insertps|extractps|cvtdq2ps|cvttps2dq|roundps|movd|movq|pmovmskb)\b/;
const VLOAD = /^v?(movdqu|movdqa|movups|movaps|movss|movsd|movdqu8|movdqu32)\b/;

function classify(t) {
  const [mn, ...rest] = t.split(/\s+/);
  const ops = rest.join(" ");
  const mem = /\[/.test(ops);
  const isVec = /xmm|ymm|zmm/.test(ops);
  if (DOT.test(mn)) return { kind: "dot/mul", mem };
  if (ARITH.test(mn)) return { kind: "simd add", mem };
  const stack = /\[(rbp|rsp)[-+\]]/.test(ops); // V8's spill slots
  if (VLOAD.test(mn) && isVec) {
    const [dst] = ops.split(",");
    if (/\[/.test(dst)) return { kind: stack ? "spill" : "store", mem: false };
    return { kind: !mem ? "simd move" : stack ? "reload" : "load", mem };
  }
  if (isVec && SHUF.test(mn)) return { kind: "unpack/shuffle", mem };
  if (isVec) return { kind: "other simd", mem };
  return { kind: "scalar", mem: mem && !/^(lea)/.test(mn) && !/^mov\w*\s+\[/.test(t) };
}

/** Loops: backward jumps [target, jump]; inner: holding no other backward jump. */
function loops(ins) {
  const back = [];
  ins.forEach((x, i) => {
    const m = /^j\w+\s+0x[0-9a-f]+\s+<\+0x([0-9a-f]+)>/.exec(x.text);
    if (m) { const to = parseInt(m[1], 16); if (to <= x.off) back.push({ from: i, to: ins.findIndex((y) => y.off === to) }); }
  });
  for (const l of back) l.inner = !back.some((o) => o !== l && o.to >= l.to && o.from < l.from && o.from >= l.to);
  return back;
}

const KINDS = ["dot/mul", "simd add", "unpack/shuffle", "other simd", "load", "reload", "spill", "simd move", "store", "scalar"];
function report(idx) {
  const ins = funcs.get(idx);
  console.log(`\n== ${nameOf(idx)} (function ${idx}, ${ins.length} instructions)`);
  if (a.code) for (const x of ins) console.log(`  ${x.off.toString(16).padStart(5)}  ${x.text}`);
  for (const l of loops(ins)) {
    if (!l.inner && !a.all) continue;
    // A loop entered at its bottom (V8 rotates loops: the jump back goes to a header that jumps into the body)
    // is still [to, from]; instructions between are one iteration.
    const body = ins.slice(l.to, l.from + 1);
    const c = Object.fromEntries(KINDS.map((k) => [k, 0]));
    let memOps = 0;
    const mn = new Map();
    for (const x of body) {
      const k = classify(x.text); c[k.kind]++; if (k.mem) memOps++;
      const m = x.text.split(/\s+/)[0]; mn.set(m, (mn.get(m) ?? 0) + 1);
    }
    console.log(`  ${l.inner ? "inner loop" : "loop"} ${ins[l.to].off.toString(16)}..${ins[l.from].off.toString(16)}: ${body.length} instructions; ` +
      KINDS.map((k) => `${k} ${c[k]}`).join(", ") + `; reading memory ${memOps}`);
    console.log("    " + [...mn].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}×${v}`).join(" "));
  }
}

if (positionals.length === 0) {
  for (const i of [...funcs.keys()].sort((x, y) => x - y)) console.log(`${i}\t${nameOf(i)}\t${funcs.get(i).length}`);
} else {
  for (const want of positionals) {
    const hits = [...funcs.keys()].filter((i) => nameOf(i).includes(want));
    if (hits.length === 0) { console.error(`no function named like ${want}`); process.exit(1); }
    for (const i of hits) report(i);
  }
}
