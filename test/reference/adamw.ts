// Float64 references for the optimiser: AdamW as written in Loshchilov & Hutter / the torch.optim.AdamW
// docs (decoupled decay, bias-corrected m_hat and v_hat, eps outside the square root) and
// torch.nn.utils.clip_grad_norm_ (total L2 norm, coefficient clamped to 1, 1e-6 added to the norm).

export interface AdamWRefState {
  m: Float64Array;
  v: Float64Array;
  t: number;
}

export function adamwRefStep(
  theta: Float64Array,
  g: ArrayLike<number>,
  s: AdamWRefState,
  h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
): void {
  s.t += 1;
  for (let i = 0; i < theta.length; i++) {
    theta[i] = theta[i]! - h.lr * h.weightDecay * theta[i]!;
    s.m[i] = h.beta1 * s.m[i]! + (1 - h.beta1) * g[i]!;
    s.v[i] = h.beta2 * s.v[i]! + (1 - h.beta2) * g[i]! * g[i]!;
    const mHat = s.m[i]! / (1 - h.beta1 ** s.t);
    const vHat = s.v[i]! / (1 - h.beta2 ** s.t);
    theta[i] = theta[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}

/** Clips the gradients in place; returns the total norm before clipping. */
export function clipGradNormRef(grads: Float64Array[], maxNorm: number): number {
  let sq = 0;
  for (const g of grads) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  return norm;
}
