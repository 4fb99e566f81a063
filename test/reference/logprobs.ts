// Float64 references for the vocabulary-wide row ops: log-softmax via max-subtracted logsumexp,
// token log-probs under a temperature, entropy, cross-entropy with an ignore index, and the embedding
// gather.

/** log_softmax(x[r] / T) for each row of a row-major [rows, cols] matrix. */
export function logSoftmaxRef(x: ArrayLike<number>, cols: number, temperature = 1): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]! / temperature);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! / temperature - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c]! / temperature - lse;
  }
  return out;
}

export function tokenLogprobsRef(
  x: ArrayLike<number>,
  cols: number,
  targets: ArrayLike<number>,
  temperature: number,
): Float64Array {
  const lp = logSoftmaxRef(x, cols, temperature);
  return Float64Array.from({ length: targets.length }, (_, r) => lp[r * cols + targets[r]!]!);
}

export function entropyRef(x: ArrayLike<number>, cols: number, temperature: number): Float64Array {
  const lp = logSoftmaxRef(x, cols, temperature);
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let h = 0;
    for (let c = 0; c < cols; c++) {
      const l = lp[r * cols + c]!;
      h -= Math.exp(l) * l;
    }
    out[r] = h;
  }
  return out;
}

export function crossEntropyRef(
  x: ArrayLike<number>,
  cols: number,
  targets: ArrayLike<number>,
  ignoreIndex = -100,
): Float64Array {
  const lp = logSoftmaxRef(x, cols);
  return Float64Array.from({ length: targets.length }, (_, r) =>
    targets[r] === ignoreIndex ? 0 : -lp[r * cols + targets[r]!]!,
  );
}

export function embeddingRef(table: ArrayLike<number>, dim: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let s = 0; s < ids.length; s++)
    for (let d = 0; d < dim; d++) out[s * dim + d] = table[ids[s]! * dim + d]!;
  return out;
}
