// Weight access shared by matmul.wgsl and embed.wgsl (prepended to each): element (row, k) of a
// (rows, K) matrix in its stored dtype, widened to f32. WT is a pipeline-overridable constant, so each
// dtype compiles to its own pipeline with the other branches folded away.
//   WT 0 f32:  W[row K + k] as f32 bits
//   WT 1 f16, 2 bf16: two values a word, element i in half (i & 1) of word i / 2 (little-endian)
//   WT 3 q8_0, 4 q4_0: llama.cpp's 32-weight blocks split at load (weights.ts) into a quant plane, block
//     b = row nb + k / 32 at words [b QW, (b+1) QW) holding the block's 32 int8 (QW 8) or 16 nibble bytes
//     (QW 4: low nibbles weights 0..15, high nibbles 16..31), then a plane of f32 scales from word SOFF.

override WT: u32 = 0u;

// Words read 16 bytes at a time (w4_at: one load for 4 f32 weights), which SwiftShader turns into one
// gather instead of four; uploads are padded to 16 bytes.
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;

fn word(i: u32) -> u32 { return W[i >> 2u][i & 3u]; }

fn w_at(row: u32, k: u32, K: u32, soff: u32) -> f32 {
  switch WT {
    case 0u: { return bitcast<f32>(word(row * K + k)); }
    case 1u: {
      let i = row * K + k;
      return unpack2x16float(word(i >> 1u))[i & 1u];
    }
    case 2u: {
      let i = row * K + k;
      let w = word(i >> 1u);
      return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
    }
    case 3u: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let q = bitcast<i32>(word(b * 8u + j / 4u) << (24u - 8u * (j % 4u))) >> 24u; // sign-extended byte j
      return bitcast<f32>(word(soff + b)) * f32(q);
    }
    default: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let byte = (word(b * 4u + (j % 16u) / 4u) >> (8u * (j % 4u))) & 0xffu;
      let q = select(byte & 0xfu, byte >> 4u, j >= 16u);
      return bitcast<f32>(word(soff + b)) * (f32(q) - 8.0);
    }
  }
}

// Elements (row, k … k+3), for K a multiple of 4 and k a multiple of 4 (so f32 weights fill one 16-byte
// group and 16-bit ones half of one): a single load instead of four. Same values as w_at.
fn w4_at(row: u32, k: u32, K: u32, soff: u32) -> vec4<f32> {
  switch WT {
    case 0u: { return bitcast<vec4<f32>>(W[(row * K + k) >> 2u]); }
    case 1u: {
      let i = (row * K + k) >> 1u; // even: words i, i+1 are one half of a 16-byte group
      let w = W[i >> 2u];
      let p = select(w.xy, w.zw, (i & 2u) != 0u);
      return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
    }
    case 2u: {
      let i = (row * K + k) >> 1u;
      let w = W[i >> 2u];
      let p = select(w.xy, w.zw, (i & 2u) != 0u);
      let a = p.x;
      let b = p.y;
      return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u), bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
    }
    case 3u: {
      let b = row * (K / 32u) + k / 32u;
      let w = word(b * 8u + (k % 32u) / 4u);
      let q = vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u, bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u);
      return bitcast<f32>(word(soff + b)) * vec4<f32>(q);
    }
    default: {
      let b = row * (K / 32u) + k / 32u;
      let j = k % 32u;
      let w = word(b * 4u + (j % 16u) / 4u) >> select(0u, 4u, j >= 16u); // low nibbles for 0..15, high for 16..31
      let q = vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu);
      return bitcast<f32>(word(soff + b)) * (vec4<f32>(q) - 8.0);
    }
  }
}
