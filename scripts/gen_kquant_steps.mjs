// Writes the straight-line steps of the q4_K / q5_K kernels in src/kernels/wasm/assembly/matmul_kquant.ts
// between their markers: the decode tile's super-block steps (tile16Q45K, "BEGIN q4_K steps" / "END q4_K
// steps", and q5_K) and the prefill tile's quad of steps (tile4K2Q45, "BEGIN prefill quad steps"). The steps are
// spelled out because AssemblyScript takes a load's offset and a shuffle's lanes only as literals, and one basic
// block per step (an `if` on a never-equal value, always taken) is what keeps V8 from loading them all first:
//   node scripts/gen_kquant_steps.mjs && npm run build:kernels     (--check: only say whether the source is current)
import fs from "node:fs";

const file = new URL("../src/kernels/wasm/assembly/matmul_kquant.ts", import.meta.url);
let src = fs.readFileSync(file, "utf8");
let block = 0;
const cond = () => `if (xs != ${++block})`; // a distinct, never-equal condition per block (xs >= 1024)

function steps(five) {
  const QO = five ? 224 : 96, L = ["let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;"];
  for (let c = 0; c < 4; c++) for (const hi of [false, true]) {
    const hs = (hi ? 3 : 4) - 2 * c;
    L.push(`// run ${c}, ${hi ? "high" : "low"} nibbles: sub-block ${2 * c + (hi ? 1 : 0)}`);
    L.push("s0 = i16x8.splat(0); s1 = s0; s2 = s0; s3 = s0;");
    for (let i = 0; i < 8; i++) {
      const k = i % 4;
      L.push(`${cond()} {`);
      L.push(`  const xv = v128.load(xs, ${64 * c + (hi ? 32 : 0) + 16 * (i >> 2)}); const x = i32x4.shuffle(xv, xv, ${k}, ${k}, ${k}, ${k});`);
      for (let g = 0; g < 4; g++) {
        const h = five ? `v128.load(p${g}, ${96 + 16 * i})` : "x";
        L.push(`  s${g} = i16x8.add(s${g}, dot16(x, lv45(v128.load(p${g}, ${QO + 128 * c + 16 * i}), ${h}, ${hi}, ${five}, ${hs}, m15, bit)));`);
      }
      L.push("}");
      if (i === 7 || (five && i === 3)) { // scale the sub-block's sums (5-bit levels: every 4 steps)
        L.push(`${cond()} {`);
        for (let g = 0; g < 4; g++)
          L.push(`  a${g} = i32x4.add(a${g}, i32x4.dot_i16x8_s(s${g}, sc${hi ? "Hi" : "Lo"}(v128.load8x8_u(p${g}, ${32 + 8 * c}))));`);
        if (i === 3) L.push("  s0 = i16x8.splat(0); s1 = s0; s2 = s0; s3 = s0;");
        L.push("}");
      }
    }
  }
  return L.map((l) => "      " + l + "\n").join("");
}

// Prefill (tile4K2Q45): a quad of steps, 4 quant vectors against lanes 0-3 of one activation vector per token
// and half (xal, xah: token a's low and high nibbles' activations; xbl, xbh: token b's); `five` is the tile's
// compile-time q5_K flag.
function quadSteps() {
  const L = [];
  for (let k = 0; k < 4; k++) {
    const off = k ? `, ${16 * k}` : "";
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
    L.push(`    const qv = q + (j << 6), hv = blk + 96 + (j << 6), xo = x + (j << 4)${hi ? " + 32" : ""};`);
    L.push("    const x0 = v128.load(xo), x1 = v128.load(xo + xs), x2 = v128.load(xo + 2 * xs), x3 = v128.load(xo + 3 * xs);");
    for (let k = 0; k < 4; k++) {
      const off = k ? `, ${16 * k}` : "";
      L.push(`    if (qv != ${k + 1}) { // step ${k}`);
      L.push(`      const v = v128.load(qv${off}), w = lv45(v, five ? v128.load(hv${off}) : v, ${hi}, five, ${hi ? 3 : 4} - 2 * c, m15, bit);`);
      for (const [acc, xv] of [["a16", "x0"], ["b16", "x1"], ["c16", "x2"], ["d16", "x3"]])
        L.push(`      ${acc} = i16x8.add(${acc}, dot16(i32x4.shuffle(${xv}, ${xv}, ${k}, ${k}, ${k}, ${k}), w));`);
      L.push("    }");
    }
    L.push("    if (five || j == 1) { // a phase ends: scale by the sub-block's scales, widening to i32");
    L.push(`      const sv = sc${hi ? "Hi" : "Lo"}(v128.load8x8_u(blk + 32 + (<usize>c << 3)));`);
    L.push("      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(a16, sv)); i1 = i32x4.add(i1, i32x4.dot_i16x8_s(b16, sv));");
    L.push("      i2 = i32x4.add(i2, i32x4.dot_i16x8_s(c16, sv)); i3 = i32x4.add(i3, i32x4.dot_i16x8_s(d16, sv));");
    L.push("      a16 = i16x8.splat(0); b16 = i16x8.splat(0); c16 = i16x8.splat(0); d16 = i16x8.splat(0);");
    L.push("    }");
    L.push("  }");
    L.push("}");
  }
  return L.map((l) => "      " + l + "\n").join("");
}

for (const [name, indent, body] of [["q5_K steps", "      ", () => steps(true)], ["q4_K steps", "      ", () => steps(false)],
  ["prefill quad steps", "        ", quadSteps], ["prefill four-token steps", "      ", fourTokenSteps]]) {
  const begin = `${indent}// BEGIN ${name} (scripts/gen_kquant_steps.mjs)\n`, end = `${indent}// END ${name}\n`;
  const a = src.indexOf(begin), b = src.indexOf(end);
  if (a < 0 || b < a) { console.error(`gen_kquant_steps: markers for ${name} not found in ${file.pathname}`); process.exit(1); }
  src = src.slice(0, a + begin.length) + body() + src.slice(b);
}
if (process.argv.includes("--check")) { // the checked-in steps are this script's output
  if (src !== fs.readFileSync(file, "utf8")) { console.error("gen_kquant_steps: the steps in matmul_kquant.ts differ from the generator's; run node scripts/gen_kquant_steps.mjs"); process.exit(1); }
  process.exit(0);
}
const tmp = file.pathname + ".tmp";
fs.writeFileSync(tmp, src);
fs.renameSync(tmp, file.pathname);
