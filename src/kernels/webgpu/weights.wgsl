// Weight access shared by matmul.wgsl and embed.wgsl (prepended to each): element (row, k) of a
// (rows, K) matrix in its stored dtype, widened to f32. WT is a pipeline-overridable constant, so each
// dtype compiles to its own pipeline with the other branches folded away.
//   WT 0 f32:  W[row K + k] as f32 bits
//   WT 1 f16, 2 bf16: two values a word, element i in half (i & 1) of word i / 2 (little-endian)
//   WT 3 q8_0, 4 q4_0: llama.cpp's 32-weight blocks split at load (weights.ts) into a quant plane, block
//     b = row nb + k / 32 at words [b QW, (b+1) QW) holding the block's 32 int8 (QW 8) or 16 nibble bytes
//     (QW 4: low nibbles weights 0..15, high nibbles 16..31), then a plane of f32 scales from word SOFF.

override WT: u32 = 0u;

@group(0) @binding(1) var<storage, read> W: array<u32>;

fn w_at(row: u32, k: u32, K: u32, soff: u32) -> f32 {
  switch WT {
    case 0u: { return bitcast<f32>(W[row * K + k]); }
    case 1u: {
      let i = row * K + k;
      return unpack2x16float(W[i >> 1u])[i & 1u];
    }
    case 2u: {
      let i = row * K + k;
      let w = W[i >> 1u];
      return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
    }
    case 3u: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let q = bitcast<i32>(W[b * 8u + j / 4u] << (24u - 8u * (j % 4u))) >> 24u; // sign-extended byte j
      return bitcast<f32>(W[soff + b]) * f32(q);
    }
    default: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let byte = (W[b * 4u + (j % 16u) / 4u] >> (8u * (j % 4u))) & 0xffu;
      let q = select(byte & 0xfu, byte >> 4u, j >= 16u);
      return bitcast<f32>(W[soff + b]) * (f32(q) - 8.0);
    }
  }
}
