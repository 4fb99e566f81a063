// A small float64 reverse-mode autodiff for test references: dense row-major arrays, the handful of
// ops a Qwen2 decoder layer uses, written from their definitions. Used to train a reference model on
// the CPU alongside the GPU one.

export class V {
  grad: Float64Array;
  constructor(
    readonly data: Float64Array,
    readonly shape: number[],
    readonly parents: V[] = [],
    readonly back: (self: V) => void = () => {},
  ) {
    this.grad = new Float64Array(data.length);
  }

  get size(): number {
    return this.data.length;
  }
}

export function leaf(data: ArrayLike<number>, shape: number[]): V {
  return new V(Float64Array.from(data), shape);
}

/** Back-propagates from a scalar. */
export function backward(loss: V): void {
  const order: V[] = [];
  const seen = new Set<V>();
  const visit = (v: V) => {
    if (seen.has(v)) return;
    seen.add(v);
    for (const p of v.parents) visit(p);
    order.push(v);
  };
  visit(loss);
  loss.grad.fill(0);
  loss.grad[0] = 1;
  for (let i = order.length - 1; i >= 0; i--) order[i]!.back(order[i]!);
}

export function zeroGrads(vs: V[]): void {
  for (const v of vs) v.grad.fill(0);
}

/** y = x W^T (+ b); x [R, I], W [O, I]. */
export function linear(x: V, w: V, b?: V): V {
  const [O, I] = w.shape as [number, number];
  const R = x.size / I;
  const y = new Float64Array(R * O);
  for (let r = 0; r < R; r++)
    for (let o = 0; o < O; o++) {
      let s = b ? b.data[o]! : 0;
      for (let i = 0; i < I; i++) s += x.data[r * I + i]! * w.data[o * I + i]!;
      y[r * O + o] = s;
    }
  return new V(y, [...x.shape.slice(0, -1), O], b ? [x, w, b] : [x, w], (self) => {
    const g = self.grad;
    for (let r = 0; r < R; r++)
      for (let o = 0; o < O; o++) {
        const gy = g[r * O + o]!;
        if (b) b.grad[o]! += gy;
        for (let i = 0; i < I; i++) {
          x.grad[r * I + i]! += gy * w.data[o * I + i]!;
          w.grad[o * I + i]! += gy * x.data[r * I + i]!;
        }
      }
  });
}

export function add(a: V, b: V): V {
  const y = a.data.map((v, i) => v + b.data[i]!);
  return new V(y, a.shape, [a, b], (self) => {
    for (let i = 0; i < y.length; i++) {
      a.grad[i]! += self.grad[i]!;
      b.grad[i]! += self.grad[i]!;
    }
  });
}

/** RMSNorm over the last dimension: x * rsqrt(mean(x^2) + eps) * w. */
export function rmsNorm(x: V, w: V, eps = 1e-6): V {
  const D = w.size;
  const R = x.size / D;
  const y = new Float64Array(x.size);
  const rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x.data[r * D + d]! ** 2;
    rstd[r] = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) y[r * D + d] = x.data[r * D + d]! * rstd[r]! * w.data[d]!;
  }
  return new V(y, x.shape, [x, w], (self) => {
    for (let r = 0; r < R; r++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += self.grad[r * D + d]! * w.data[d]! * x.data[r * D + d]!;
      const k = rstd[r]! ** 3 * (dot / D);
      for (let d = 0; d < D; d++) {
        const i = r * D + d;
        w.grad[d]! += self.grad[i]! * x.data[i]! * rstd[r]!;
        x.grad[i]! += self.grad[i]! * w.data[d]! * rstd[r]! - x.data[i]! * k;
      }
    }
  });
}

/** silu(gate) * up. */
export function swiglu(gate: V, up: V): V {
  const sig = gate.data.map((g) => 1 / (1 + Math.exp(-g)));
  const y = gate.data.map((g, i) => g * sig[i]! * up.data[i]!);
  return new V(y, gate.shape, [gate, up], (self) => {
    for (let i = 0; i < y.length; i++) {
      const g = gate.data[i]!;
      const s = sig[i]!;
      up.grad[i]! += self.grad[i]! * g * s;
      gate.grad[i]! += self.grad[i]! * up.data[i]! * (s + g * s * (1 - s));
    }
  });
}

/**
 * Rotate-half rotary embedding of x [S, H, D] by angles [S, D/2]:
 * (x_i, x_{i+D/2}) -> (x_i cos - x_{i+D/2} sin, x_{i+D/2} cos + x_i sin).
 */
export function rope(x: V, angles: Float64Array): V {
  const [S, H, D] = x.shape as [number, number, number];
  const half = D / 2;
  const y = new Float64Array(x.size);
  const rot = (src: Float64Array, dst: Float64Array, sign: number) => {
    for (let s = 0; s < S; s++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < half; i++) {
          const a = angles[s * half + i]! * sign;
          const o = (s * H + h) * D;
          const x1 = src[o + i]!;
          const x2 = src[o + i + half]!;
          dst[o + i]! += x1 * Math.cos(a) - x2 * Math.sin(a);
          dst[o + i + half]! += x2 * Math.cos(a) + x1 * Math.sin(a);
        }
  };
  rot(x.data, y, 1);
  return new V(y, x.shape, [x], (self) => rot(self.grad, x.grad, -1));
}

/** Causal grouped-query attention: q [S, Hq, D], k and v [S, Hkv, D]; scale 1/sqrt(D). */
export function causalAttention(q: V, k: V, v: V): V {
  const [S, Hq, D] = q.shape as [number, number, number];
  const Hkv = k.shape[1]!;
  const scale = 1 / Math.sqrt(D);
  const P = new Float64Array(Hq * S * S);
  const y = new Float64Array(q.size);
  const qi = (s: number, h: number) => (s * Hq + h) * D;
  const ki = (s: number, h: number) => (s * Hkv + h) * D;
  for (let h = 0; h < Hq; h++) {
    const kh = Math.floor((h * Hkv) / Hq);
    for (let i = 0; i < S; i++) {
      let m = Number.NEGATIVE_INFINITY;
      const row = new Float64Array(i + 1);
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q.data[qi(i, h) + d]! * k.data[ki(j, kh) + d]!;
        row[j] = dot * scale;
        m = Math.max(m, row[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += Math.exp(row[j]! - m);
      for (let j = 0; j <= i; j++) {
        const p = Math.exp(row[j]! - m) / sum;
        P[(h * S + i) * S + j] = p;
        for (let d = 0; d < D; d++) y[qi(i, h) + d]! += p * v.data[ki(j, kh) + d]!;
      }
    }
  }
  return new V(y, q.shape, [q, k, v], (self) => {
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor((h * Hkv) / Hq);
      for (let i = 0; i < S; i++) {
        const dp = new Float64Array(i + 1);
        let rowDot = 0;
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += self.grad[qi(i, h) + d]! * v.data[ki(j, kh) + d]!;
          dp[j] = s;
          rowDot += s * P[(h * S + i) * S + j]!;
        }
        for (let j = 0; j <= i; j++) {
          const p = P[(h * S + i) * S + j]!;
          const ds = p * (dp[j]! - rowDot) * scale;
          for (let d = 0; d < D; d++) {
            v.grad[ki(j, kh) + d]! += p * self.grad[qi(i, h) + d]!;
            q.grad[qi(i, h) + d]! += ds * k.data[ki(j, kh) + d]!;
            k.grad[ki(j, kh) + d]! += ds * q.data[qi(i, h) + d]!;
          }
        }
      }
    }
  });
}

/** Mean cross-entropy of logits [S, V] against targets. */
export function crossEntropyMean(logits: V, targets: ArrayLike<number>): V {
  const Vn = logits.shape[1]!;
  const S = logits.size / Vn;
  const probs = new Float64Array(logits.size);
  let loss = 0;
  for (let s = 0; s < S; s++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < Vn; c++) m = Math.max(m, logits.data[s * Vn + c]!);
    let sum = 0;
    for (let c = 0; c < Vn; c++) sum += Math.exp(logits.data[s * Vn + c]! - m);
    for (let c = 0; c < Vn; c++) probs[s * Vn + c] = Math.exp(logits.data[s * Vn + c]! - m) / sum;
    loss -= Math.log(probs[s * Vn + targets[s]!]!);
  }
  return new V(Float64Array.of(loss / S), [1], [logits], (self) => {
    const g = self.grad[0]! / S;
    for (let s = 0; s < S; s++)
      for (let c = 0; c < Vn; c++) {
        logits.grad[s * Vn + c]! += g * (probs[s * Vn + c]! - (c === targets[s] ? 1 : 0));
      }
  });
}

/** Rows of a table [V, D] by index. */
export function embed(table: V, ids: ArrayLike<number>): V {
  const D = table.shape[1]!;
  const y = new Float64Array(ids.length * D);
  for (let s = 0; s < ids.length; s++)
    for (let d = 0; d < D; d++) y[s * D + d] = table.data[ids[s]! * D + d]!;
  return new V(y, [ids.length, D], [table], (self) => {
    for (let s = 0; s < ids.length; s++)
      for (let d = 0; d < D; d++) table.grad[ids[s]! * D + d]! += self.grad[s * D + d]!;
  });
}

/** torch.optim.AdamW step on float64 parameters. */
export class AdamW64 {
  private readonly m = new Map<V, Float64Array>();
  private readonly v = new Map<V, Float64Array>();
  private t = 0;
  constructor(
    readonly lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
    readonly weightDecay = 0,
  ) {}

  step(params: V[]): void {
    this.t++;
    for (const p of params) {
      const m = this.m.get(p) ?? new Float64Array(p.size);
      const v = this.v.get(p) ?? new Float64Array(p.size);
      this.m.set(p, m);
      this.v.set(p, v);
      for (let i = 0; i < p.size; i++) {
        const g = p.grad[i]!;
        p.data[i]! *= 1 - this.lr * this.weightDecay;
        m[i] = this.beta1 * m[i]! + (1 - this.beta1) * g;
        v[i] = this.beta2 * v[i]! + (1 - this.beta2) * g * g;
        const mh = m[i]! / (1 - this.beta1 ** this.t);
        const vh = v[i]! / (1 - this.beta2 ** this.t);
        p.data[i]! -= (this.lr * mh) / (Math.sqrt(vh) + this.eps);
      }
    }
  }
}

/** The same data under another shape (gradient passes through). */
export function reshapeV(x: V, shape: number[]): V {
  return new V(Float64Array.from(x.data), shape, [x], (self) => {
    for (let i = 0; i < x.size; i++) x.grad[i]! += self.grad[i]!;
  });
}

/** Columns [start, end) of a [R, C] matrix. */
export function sliceColumns(x: V, start: number, end: number): V {
  const C = x.shape.at(-1)!;
  const R = x.size / C;
  const W = end - start;
  const y = new Float64Array(R * W);
  for (let r = 0; r < R; r++) for (let c = 0; c < W; c++) y[r * W + c] = x.data[r * C + start + c]!;
  return new V(y, [R, W], [x], (self) => {
    for (let r = 0; r < R; r++)
      for (let c = 0; c < W; c++) x.grad[r * C + start + c]! += self.grad[r * W + c]!;
  });
}

/** Rows of x [R, C] picked by index: y[i] = x[idx[i]]. */
export function gatherRows(x: V, idx: ArrayLike<number>): V {
  const C = x.shape.at(-1)!;
  const y = new Float64Array(idx.length * C);
  for (let i = 0; i < idx.length; i++) for (let c = 0; c < C; c++) y[i * C + c] = x.data[idx[i]! * C + c]!;
  return new V(y, [idx.length, C], [x], (self) => {
    for (let i = 0; i < idx.length; i++)
      for (let c = 0; c < C; c++) x.grad[idx[i]! * C + c]! += self.grad[i * C + c]!;
  });
}

/** LayerNorm over the last dimension with the biased variance: (x - mean) / sqrt(var + eps) * w + b. */
export function layerNormV(x: V, w: V, b: V, eps = 1e-6): V {
  const D = w.size;
  const R = x.size / D;
  const xhat = new Float64Array(x.size);
  const rstd = new Float64Array(R);
  const y = new Float64Array(x.size);
  for (let r = 0; r < R; r++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x.data[r * D + d]!;
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x.data[r * D + d]! - mean) ** 2;
    rstd[r] = 1 / Math.sqrt(v / D + eps);
    for (let d = 0; d < D; d++) {
      xhat[r * D + d] = (x.data[r * D + d]! - mean) * rstd[r]!;
      y[r * D + d] = xhat[r * D + d]! * w.data[d]! + b.data[d]!;
    }
  }
  return new V(y, x.shape, [x, w, b], (self) => {
    for (let r = 0; r < R; r++) {
      let sg = 0;
      let sgx = 0;
      for (let d = 0; d < D; d++) {
        const g = self.grad[r * D + d]! * w.data[d]!;
        sg += g;
        sgx += g * xhat[r * D + d]!;
      }
      for (let d = 0; d < D; d++) {
        const i = r * D + d;
        w.grad[d]! += self.grad[i]! * xhat[i]!;
        b.grad[d]! += self.grad[i]!;
        const g = self.grad[i]! * w.data[d]!;
        x.grad[i]! += rstd[r]! * (g - sg / D - (xhat[i]! * sgx) / D);
      }
    }
  });
}

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a reference; use the series / continued fraction.
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction (Lentz) for large |x|.
  let f = ax;
  let C = ax;
  let Dd = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    Dd = ax + an * Dd;
    Dd = 1 / Dd;
    C = ax + an / C;
    const delta = C * Dd;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** GELU: 'exact' x * Phi(x), 'tanh' the tanh approximation, 'quick' x * sigmoid(1.702 x). */
export function geluV(x: V, kind: 'exact' | 'tanh' | 'quick'): V {
  const f = (z: number): number => {
    if (kind === 'exact') return 0.5 * z * (1 + erf(z / Math.SQRT2));
    if (kind === 'quick') return z / (1 + Math.exp(-1.702 * z));
    return 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
  };
  const df = (z: number): number => {
    if (kind === 'exact')
      return 0.5 * (1 + erf(z / Math.SQRT2)) + (z * Math.exp(-0.5 * z * z)) / Math.sqrt(2 * Math.PI);
    if (kind === 'quick') {
      const s = 1 / (1 + Math.exp(-1.702 * z));
      return s + 1.702 * z * s * (1 - s);
    }
    const k = Math.sqrt(2 / Math.PI);
    const t = Math.tanh(k * (z + 0.044715 * z ** 3));
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * 0.044715 * z * z);
  };
  const y = x.data.map(f);
  return new V(y, x.shape, [x], (self) => {
    for (let i = 0; i < y.length; i++) x.grad[i]! += self.grad[i]! * df(x.data[i]!);
  });
}

/**
 * Bidirectional multi-head attention packed by sequence boundaries: q, k, v [S, H, D]; query i attends
 * every key of its own sequence [cu[s], cu[s + 1]); scale 1/sqrt(D).
 */
export function varlenAttention(q: V, k: V, v: V, cu: readonly number[]): V {
  const [S, H, D] = q.shape as [number, number, number];
  const scale = 1 / Math.sqrt(D);
  const lo = new Int32Array(S);
  const hi = new Int32Array(S);
  for (let s = 0; s + 1 < cu.length; s++)
    for (let t = cu[s]!; t < cu[s + 1]!; t++) {
      lo[t] = cu[s]!;
      hi[t] = cu[s + 1]!;
    }
  const at = (s: number, h: number) => (s * H + h) * D;
  const P: Float64Array[] = new Array(S * H);
  const y = new Float64Array(q.size);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < S; i++) {
      const n = hi[i]! - lo[i]!;
      const row = new Float64Array(n);
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q.data[at(i, h) + d]! * k.data[at(lo[i]! + j, h) + d]!;
        row[j] = dot * scale;
        m = Math.max(m, row[j]!);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        row[j] = Math.exp(row[j]! - m);
        sum += row[j]!;
      }
      for (let j = 0; j < n; j++) {
        row[j]! /= sum;
        for (let d = 0; d < D; d++) y[at(i, h) + d]! += row[j]! * v.data[at(lo[i]! + j, h) + d]!;
      }
      P[i * H + h] = row;
    }
  return new V(y, q.shape, [q, k, v], (self) => {
    for (let h = 0; h < H; h++)
      for (let i = 0; i < S; i++) {
        const row = P[i * H + h]!;
        const n = row.length;
        const dp = new Float64Array(n);
        let rowDot = 0;
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += self.grad[at(i, h) + d]! * v.data[at(lo[i]! + j, h) + d]!;
          dp[j] = s;
          rowDot += s * row[j]!;
        }
        for (let j = 0; j < n; j++) {
          const kj = at(lo[i]! + j, h);
          const ds = row[j]! * (dp[j]! - rowDot) * scale;
          for (let d = 0; d < D; d++) {
            v.grad[kj + d]! += row[j]! * self.grad[at(i, h) + d]!;
            q.grad[at(i, h) + d]! += ds * k.data[kj + d]!;
            k.grad[kj + d]! += ds * q.data[at(i, h) + d]!;
          }
        }
      }
  });
}
