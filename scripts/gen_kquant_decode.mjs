// Writes the straight-line super-block steps of the q4_K / q5_K decode tile (tile16Q45K in
// src/kernels/wasm/assembly/matmul_kquant.ts) between its "BEGIN q4_K steps" / "END q4_K steps" (and q5_K)
// markers. The steps are spelled out because AssemblyScript takes a load's offset only as a literal, and one
// basic block per step (the `if (xs != k)`, always taken) is what keeps V8 from loading a whole phase first:
//   node scripts/gen_kquant_decode.mjs && npm run build:kernels     (--check: only say whether the source is current)
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
        L.push(`  s${g} = i16x8.add(s${g}, dot16(x, lv45(v128.load(p${g}, ${QO + 128 * c + 16 * i}), ${h}, ${hi}, ${five}, ${hs})));`);
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

for (const [name, five] of [["q5_K", true], ["q4_K", false]]) {
  const begin = `      // BEGIN ${name} steps (scripts/gen_kquant_decode.mjs)\n`, end = `      // END ${name} steps\n`;
  const a = src.indexOf(begin), b = src.indexOf(end);
  if (a < 0 || b < a) { console.error(`gen_kquant_decode: markers for ${name} not found in ${file.pathname}`); process.exit(1); }
  src = src.slice(0, a + begin.length) + steps(five) + src.slice(b);
}
if (process.argv.includes("--check")) { // the checked-in steps are this script's output
  if (src !== fs.readFileSync(file, "utf8")) { console.error("gen_kquant_decode: the steps in matmul_kquant.ts differ from the generator's; run node scripts/gen_kquant_decode.mjs"); process.exit(1); }
  process.exit(0);
}
const tmp = file.pathname + ".tmp";
fs.writeFileSync(tmp, src);
fs.renameSync(tmp, file.pathname);
