// Strided row copy: a token's keys and values from the fused qkv rows into the KV cache.

export function copyRows(dst: Float32Array, dstStride: number, src: Float32Array, srcStride: number, rows: number, width: number): void {
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * srcStride, r * srcStride + width), r * dstStride);
}
