// Float64 references for RMSNorm and LayerNorm over the last dimension, written from the HF definitions
// (Qwen2RMSNorm: x * rsqrt(mean(x^2) + eps) * w; nn.LayerNorm: (x - mean) / sqrt(biased var + eps) * w + b).

export function rmsNormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  cols: number,
  eps = 1e-6,
): Float64Array {
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[r * cols + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c]! * inv * w[c]!;
  }
  return y;
}

export function layerNormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  cols: number,
  eps = 1e-6,
): Float64Array {
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    const mean = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - mean) * inv * w[c]! + b[c]!;
  }
  return y;
}
