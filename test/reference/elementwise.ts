// Float64 references for the elementwise ops and row reductions.

export function broadcastRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  f: (x: number, y: number) => number,
): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, b[i % b.length]!);
  return out;
}

export function reduceRowsRef(
  x: ArrayLike<number>,
  cols: number,
  op: 'sum' | 'mean' | 'max' | 'sumsq',
): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = op === 'max' ? Number.NEGATIVE_INFINITY : 0;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      if (op === 'max') acc = Math.max(acc, v);
      else acc += op === 'sumsq' ? v * v : v;
    }
    out[r] = op === 'mean' ? acc / cols : acc;
  }
  return out;
}

/** Per-row sum of |x| (or x^2 for sumsq): the magnitude that bounds float32 summation error. */
export function rowMagnitude(x: ArrayLike<number>, cols: number, squared: boolean): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += squared ? x[r * cols + c]! ** 2 : Math.abs(x[r * cols + c]!);
    out[r] = s;
  }
  return out;
}
