// Writes the spelled-out code of the WASM kernels between their markers: in matmul_kquant.ts the q5_K decode
// tile's runs (tile16Q45K, "BEGIN q5_K runs" / "END q5_K runs") and the prefill tiles' steps
// (tile4K2Q45, tile4K4Q45); in matmul_quant.ts the q8_0 / q4_0 prefill tile's block (tile4x8). They are spelled
// out because AssemblyScript takes a load's offset and a shuffle's lanes only as literals; in the prefill tiles
// one basic block per step (an `if` on a never-equal value, always taken) is what keeps V8 from loading them
// all first:
//   node scripts/gen_steps.mjs && npm run build:kernels     (--check: only say whether the sources are current)
import fs from "node:fs";

const vo = (x) => ((x >> 4) << 6) + (x & 15); // byte x of a group super-block in its quad (interleaved by 16 bytes)

// q5_K decode (tile16Q45K): run c's two phases (low nibbles: sub-block 2c, high: 2c + 1), each a loop over two
// halves of 4 steps over the four groups (p + 16 g) with one activation word broadcast a step; the i16 sums of 5-bit
// levels (up to 31) are scaled every 4 steps, before they can overflow. The runs are spelled out for the fifth
// bit's shift (4 - 2c, 3 - 2c), a literal each.
function runs() {
  const L = [];
  for (let c = 0; c < 4; c++) {
    L.push(`{ // run ${c}`);
    L.push(`  const q = p + ${vo(208 + 128 * c)}, x = xs + ${64 * c};`);
    for (const hi of [false, true]) {
      const hs = (hi ? 3 : 4) - 2 * c;
      L.push(`  for (let k: usize = 0; k < 8; k += 4) { // ${hi ? "high" : "low"} nibbles: sub-block ${2 * c + (hi ? 1 : 0)}, steps k … k + 3`);
      L.push("    let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;");
      L.push("    for (let i = k; i < k + 4; i++) {");
      L.push(`      const xb = v128.load32_splat(x + (i << 2)${hi ? ", 32" : ""}), v = q + (i << 6), h = p + 320 + (i << 6);`);
      for (let g = 0; g < 4; g++) {
        const off = g ? `, ${16 * g}` : "";
        L.push(`      s${g} = i16x8.add(s${g}, dot16(xb, lv45(v128.load(v${off}), v128.load(h${off}), ${hi}, true, ${hs}, m15, bit)));`);
      }
      L.push("    }");
      for (let g = 0; g < 4; g++)
        L.push(`    a${g} = i32x4.add(a${g}, i32x4.dot_i16x8_s(s${g}, sc${hi ? "Hi" : "Lo"}(v128.load8x8_u(p, ${vo(16 + 8 * c) + 16 * g}))));`);
      L.push("  }");
    }
    L.push("}");
  }
  return L.map((l) => "      " + l + "\n").join("");
}

// Prefill (tile4K2Q45): a quad of steps, 4 quant vectors against lanes 0-3 of one activation vector per token
// and half (xal, xah: token a's low and high nibbles' activations; xbl, xbh: token b's); `five` is the tile's
// compile-time q5_K flag.
function quadSteps() {
  const L = [];
  for (let k = 0; k < 4; k++) {
    const off = k ? `, ${64 * k}` : "";
    L.push(`if (qv != ${k + 1}) { // step ${k}`);
    L.push(`  const v = v128.load(qv${off}), h = five ? v128.load(hv${off}) : v;`);
    L.push("  const lo = lv45(v, h, false, five, 4 - 2 * c, m15, bit), hi = lv45(v, h, true, five, 3 - 2 * c, m15, bit);");
    for (const [acc, x, w] of [["a16", "xal", "lo"], ["b16", "xah", "hi"], ["c16", "xbl", "lo"], ["d16", "xbh", "hi"]])
      L.push(`  ${acc} = i16x8.add(${acc}, dot16(i32x4.shuffle(${x}, ${x}, ${k}, ${k}, ${k}, ${k}), ${w}));`);
    L.push("}");
  }
  return L.map((l) => "        " + l + "\n").join("");
}

// Prefill with four tokens (tile4K4Q45): per run c, the low nibbles (sub-block 2c) then the high ones (2c + 1),
// each in quads of steps: 4 quant vectors against lanes 0-3 of one activation vector per token (x0 … x3).
function fourTokenSteps() {
  const L = [];
  for (const hi of [false, true]) {
    L.push(`{ // ${hi ? "high nibbles: sub-block 2c + 1" : "low nibbles: sub-block 2c"}`);
    L.push("  let a16 = i16x8.splat(0), b16 = i16x8.splat(0), c16 = i16x8.splat(0), d16 = i16x8.splat(0);");
    L.push("  for (let j: usize = 0; j < 2; j++) {");
    L.push(`    const qv = q + (j << 8), hv = blk + 320 + (j << 8), xo = x + (j << 4)${hi ? " + 32" : ""};`);
    L.push("    const x0 = v128.load(xo), x1 = v128.load(xo + xs), x2 = v128.load(xo + 2 * xs), x3 = v128.load(xo + 3 * xs);");
    for (let k = 0; k < 4; k++) {
      const off = k ? `, ${64 * k}` : "";
      L.push(`    if (qv != ${k + 1}) { // step ${k}`);
      L.push(`      const v = v128.load(qv${off}), w = lv45(v, five ? v128.load(hv${off}) : v, ${hi}, five, ${hi ? 3 : 4} - 2 * c, m15, bit);`);
      for (const [acc, xv] of [["a16", "x0"], ["b16", "x1"], ["c16", "x2"], ["d16", "x3"]])
        L.push(`      ${acc} = dotStep<Q>(${acc}, i32x4.shuffle(${xv}, ${xv}, ${k}, ${k}, ${k}, ${k}), w);`);
      L.push("    }");
    }
    L.push("    if (five || j == 1) { // a phase ends: scale by the sub-block's scales, widening to i32");
    L.push("      const sc = v128.load8x8_u(blk + vo(16 + (<usize>c << 3)));");
    L.push(`      i0 = phaseSum<Q>(i0, a16, sc, ${hi}); i1 = phaseSum<Q>(i1, b16, sc, ${hi});`);
    L.push(`      i2 = phaseSum<Q>(i2, c16, sc, ${hi}); i3 = phaseSum<Q>(i3, d16, sc, ${hi});`);
    L.push("      a16 = i16x8.splat(0); b16 = i16x8.splat(0); c16 = i16x8.splat(0); d16 = i16x8.splat(0);");
    L.push("    }");
    L.push("  }");
    L.push("}");
  }
  return L.map((l) => "      " + l + "\n").join("");
}

// q8_0 / q4_0 prefill (tile4x8): steps 1 … 15 of a block (step 0 is written by hand, starting the sums); one load
// broadcasts each token's activation pair (quad) from memory (a load port; lane shuffles of one load were 5-8 %
// slower on an AMD Zen 5) against the two groups' vectors.
// q4_0's relaxed block has 8 quad steps, q8_0's (and the plain build's q4_0) 16 pair steps.
function tile4x8Steps() {
  const L = [];
  for (let k = 1; k < 16; k++) {
    if (k === 8) L.push("if (!quadForm<W>()) {");
    const ind = k < 8 ? "" : "  ";
    L.push(`${ind}if (p != ${k + 1}) {`);
    L.push(`${ind}  const va = v128.load(p, ${32 * k}), vb = v128.load(p, ${32 * k + 16});`);
    for (let l = 0; l < 4; l++)
      L.push(`${ind}  ${l ? "" : "let "}xt = v128.load32_splat(x, ${16 * k + 4 * l}); r${l}0 = step<W>(r${l}0, va, xt); r${l}1 = step<W>(r${l}1, vb, xt);`);
    L.push(`${ind}}`);
  }
  L.push("}");
  return L.map((l) => "    " + l + "\n").join("");
}

const FILES = [
  ["matmul_kquant.ts", [["q5_K runs", "      ", runs],
    ["prefill quad steps", "        ", quadSteps], ["prefill four-token steps", "      ", fourTokenSteps]]],
  ["matmul_quant.ts", [["tile4x8 steps", "    ", tile4x8Steps]]],
];
let stale = false;
for (const [name, parts] of FILES) {
  const file = new URL(`../src/kernels/wasm/assembly/${name}`, import.meta.url).pathname;
  const old = fs.readFileSync(file, "utf8");
  let src = old;
  for (const [part, indent, body] of parts) {
    const begin = `${indent}// BEGIN ${part} (scripts/gen_steps.mjs)\n`, end = `${indent}// END ${part}\n`;
    const a = src.indexOf(begin), b = src.indexOf(end);
    if (a < 0 || b < a) { console.error(`gen_steps: markers for ${part} not found in ${file}`); process.exit(1); }
    src = src.slice(0, a + begin.length) + body() + src.slice(b);
  }
  if (src === old) continue;
  stale = true;
  if (process.argv.includes("--check")) { console.error(`gen_steps: the steps in ${name} differ from the generator's; run node scripts/gen_steps.mjs`); continue; }
  fs.writeFileSync(file + ".tmp", src);
  fs.renameSync(file + ".tmp", file);
}
if (stale && process.argv.includes("--check")) process.exit(1);
