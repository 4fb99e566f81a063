// Float64 reference attention for tests, materialising the full score matrix: softmax(scale q k^T +
// mask) v per query head (kv head floor(h * Hkv / Hq)), where the mask allows key j for query i when
// both lie in the same packed sequence, j <= i if causal, and key j is not padded. A row with no
// allowed key gives 0. Also the analytic gradients (dV = P^T dO, dP = dO V^T,
// dS = P * (dP - rowsum(P * dP)), dQ = scale dS K, dK = scale dS^T Q), used where finite differences
// would be too slow.

export interface AttnShape {
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
}

export interface AttnMaskOpts {
  causal: boolean;
  scale?: number;
  cuSeqlens?: ArrayLike<number>;
  keyPadding?: ArrayLike<number | boolean>;
}

function allowedFn(S: number, o: AttnMaskOpts): (i: number, j: number) => boolean {
  const seg = new Int32Array(S);
  const cu = o.cuSeqlens ?? [0, S];
  for (let s = 0; s + 1 < cu.length; s++) for (let t = cu[s]!; t < cu[s + 1]!; t++) seg[t] = s;
  return (i, j) => seg[i] === seg[j] && (!o.causal || j <= i) && !o.keyPadding?.[j];
}

/** Probabilities of query row i for head h: P[j] (0 where masked); undefined if no key is allowed. */
export function attentionProbs(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  sh: AttnShape,
  o: AttnMaskOpts,
  i: number,
  h: number,
): Float64Array | undefined {
  const { S, Hq, Hkv, D } = sh;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const allowed = allowedFn(S, o);
  const g = Math.floor((h * Hkv) / Hq);
  const s = new Float64Array(S).fill(Number.NEGATIVE_INFINITY);
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < S; j++) {
    if (!allowed(i, j)) continue;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[(i * Hq + h) * D + d]! * k[(j * Hkv + g) * D + d]!;
    s[j] = dot * scale;
    max = Math.max(max, s[j]!);
  }
  if (max === Number.NEGATIVE_INFINITY) return undefined;
  let sum = 0;
  for (let j = 0; j < S; j++) {
    s[j] = Math.exp(s[j]! - max);
    sum += s[j]!;
  }
  for (let j = 0; j < S; j++) s[j]! /= sum;
  return s;
}

/** Output rows `rows` (default all) of attention, [rows.length, Hq, D]. */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  sh: AttnShape,
  o: AttnMaskOpts,
  rows?: readonly number[],
): Float64Array {
  const { S, Hq, Hkv, D } = sh;
  const list = rows ?? Array.from({ length: S }, (_, i) => i);
  const out = new Float64Array(list.length * Hq * D);
  list.forEach((i, r) => {
    for (let h = 0; h < Hq; h++) {
      const p = attentionProbs(q, k, sh, o, i, h);
      if (!p) continue;
      const g = Math.floor((h * Hkv) / Hq);
      for (let j = 0; j < S; j++) {
        if (p[j] === 0) continue;
        for (let d = 0; d < D; d++) out[(r * Hq + h) * D + d]! += p[j]! * v[(j * Hkv + g) * D + d]!;
      }
    }
  });
  return out;
}

/** Analytic gradients of sum(out * dout) with respect to q, k and v. */
export function attentionGradRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
  sh: AttnShape,
  o: AttnMaskOpts,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { S, Hq, Hkv, D } = sh;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const dq = new Float64Array(S * Hq * D);
  const dk = new Float64Array(S * Hkv * D);
  const dv = new Float64Array(S * Hkv * D);
  const dp = new Float64Array(S);
  for (let i = 0; i < S; i++) {
    for (let h = 0; h < Hq; h++) {
      const p = attentionProbs(q, k, sh, o, i, h);
      if (!p) continue;
      const g = Math.floor((h * Hkv) / Hq);
      const qi = (i * Hq + h) * D;
      let rowsum = 0;
      for (let j = 0; j < S; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += dout[qi + d]! * v[(j * Hkv + g) * D + d]!;
        dp[j] = s;
        rowsum += p[j]! * s;
      }
      for (let j = 0; j < S; j++) {
        if (p[j] === 0) continue;
        const kj = (j * Hkv + g) * D;
        const ds = p[j]! * (dp[j]! - rowsum) * scale;
        for (let d = 0; d < D; d++) {
          dv[kj + d]! += p[j]! * dout[qi + d]!;
          dq[qi + d]! += ds * k[kj + d]!;
          dk[kj + d]! += ds * q[qi + d]!;
        }
      }
    }
  }
  return { dq, dk, dv };
}
