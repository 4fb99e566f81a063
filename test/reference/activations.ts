// Float64 references for the activations and softmax, written from their definitions: erf by its
// Maclaurin series (small |z|) and the Laplace continued fraction of erfc (large |z|), GELU in its
// exact / tanh / QuickGELU forms (with their derivatives), SiLU, SwiGLU and softmax over rows.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erfc(z) for z >= 3 by the continued fraction e^{-z^2}/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/...))). */
function erfcLarge(z: number): number {
  let f = z;
  for (let k = 200; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** erf(z) with about 1e-14 absolute accuracy. */
export function erf(z: number): number {
  if (Number.isNaN(z)) return z;
  const az = Math.abs(z);
  if (az >= 3) return Math.sign(z) * (1 - erfcLarge(az));
  // sum_n (-1)^n z^(2n+1) / (n! (2n+1)); terms stay below e^9, so cancellation costs at most ~4 digits.
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n++) {
    term *= (-z * z) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-18 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(z), keeping relative accuracy in the upper tail. */
export function erfc(z: number): number {
  return z >= 3 ? erfcLarge(z) : 1 - erf(z);
}

/** Standard normal CDF, accurate in the lower tail. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export type GeluKind = 'exact' | 'tanh' | 'quick';

const C = Math.sqrt(2 / Math.PI);

export function gelu(x: number, kind: GeluKind): number {
  switch (kind) {
    case 'exact':
      return x * normalCdf(x);
    case 'tanh':
      // 0.5 (1 + tanh u) = sigmoid(2u) exactly; the sigmoid form keeps the lower tail from cancelling.
      return x * sigmoid(2 * C * (x + 0.044715 * x ** 3));
    case 'quick':
      return x * sigmoid(1.702 * x);
  }
}

export function geluGrad(x: number, kind: GeluKind): number {
  switch (kind) {
    case 'exact':
      return normalCdf(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    case 'tanh': {
      // d/dx [x sigmoid(2u)] = sigmoid(2u) + x sigmoid'(2u) 2u'.
      const s = sigmoid(2 * C * (x + 0.044715 * x ** 3));
      return s + x * s * (1 - s) * 2 * C * (1 + 3 * 0.044715 * x * x);
    }
    case 'quick': {
      const s = sigmoid(1.702 * x);
      return s + 1.702 * x * s * (1 - s);
    }
  }
}

export function silu(x: number): number {
  return x * sigmoid(x);
}

export function siluGrad(x: number): number {
  const s = sigmoid(x);
  return s + x * s * (1 - s);
}

export function mapRef(xs: ArrayLike<number>, f: (x: number) => number): Float64Array {
  return Float64Array.from(xs, f);
}

export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from(gate, (g, i) => silu(g) * up[i]!);
}

/** Softmax of each row of length `cols`, with the row maximum subtracted. */
export function softmaxRef(x: ArrayLike<number>, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(x[r * cols + c]! - m) / s;
  }
  return out;
}
