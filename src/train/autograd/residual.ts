// Residual add forward (llm.c residual_forward). Its backward is the identity on both inputs, so the
// trainer lets one dresidual buffer flow through the layers and the branches accumulate into it.

/** out = a + b over n elements (out may alias a). */
export function residualForward(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}
