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

// Elements (row, k … k+3), for K a multiple of 4 and k a multiple of 4 (so a 16-bit pair or a quant
// word never straddles the group): one or two word loads instead of four. Same values as w_at.
fn w4_at(row: u32, k: u32, K: u32, soff: u32) -> vec4<f32> {
  switch WT {
    case 0u: {
      let i = row * K + k;
      return vec4<f32>(bitcast<f32>(W[i]), bitcast<f32>(W[i + 1u]), bitcast<f32>(W[i + 2u]), bitcast<f32>(W[i + 3u]));
    }
    case 1u: {
      let i = (row * K + k) >> 1u;
      return vec4<f32>(unpack2x16float(W[i]), unpack2x16float(W[i + 1u]));
    }
    case 2u: {
      let i = (row * K + k) >> 1u;
      let a = W[i];
      let b = W[i + 1u];
      return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u), bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
    }
    case 3u: {
      let b = row * (K / 32u) + k / 32u;
      let w = W[b * 8u + (k % 32u) / 4u];
      let q = vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u, bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u);
      return bitcast<f32>(W[soff + b]) * vec4<f32>(q);
    }
    default: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let w = W[b * 4u + (j % 16u) / 4u] >> select(0u, 4u, j >= 16u); // low nibbles for 0..15, high for 16..31
      let q = vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu);
      return bitcast<f32>(W[soff + b]) * (vec4<f32>(q) - 8.0);
    }
  }
}
