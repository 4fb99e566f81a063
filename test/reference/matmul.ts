// Float64 reference matmul for tests: C = alpha * op(A) . op(B) (+ bias) (+ C0), dense row-major.
// Also returns |alpha| * |op(A)| . |op(B)|, the scale that bounds float32 rounding error per element.

export interface MatmulRef {
  c: Float64Array;
  magnitude: Float64Array;
}

export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  opts: {
    transA?: boolean;
    transB?: boolean;
    alpha?: number;
    bias?: ArrayLike<number>;
    c0?: ArrayLike<number>;
  } = {},
): MatmulRef {
  const alpha = opts.alpha ?? 1;
  const c = new Float64Array(M * N);
  const magnitude = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      let s2 = 0;
      for (let k = 0; k < K; k++) {
        const x = opts.transA ? a[k * M + m]! : a[m * K + k]!;
        const y = opts.transB ? b[n * K + k]! : b[k * N + n]!;
        s += x * y;
        s2 += Math.abs(x * y);
      }
      let v = alpha * s;
      let mag = Math.abs(alpha) * s2;
      if (opts.bias) {
        v += opts.bias[n]!;
        mag += Math.abs(opts.bias[n]!);
      }
      if (opts.c0) {
        v += opts.c0[m * N + n]!;
        mag += Math.abs(opts.c0[m * N + n]!);
      }
      c[m * N + n] = v;
      magnitude[m * N + n] = mag;
    }
  }
  return { c, magnitude };
}
