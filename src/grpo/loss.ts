// The GRPO loss of one micro-batch as TRL 1.13's `GRPOTrainer._compute_loss` defines it, on the host in
// float64: per-token importance ratios (token or sequence level), the eight loss types, KL k3 with the
// bias correction, the off-policy and entropy masks, each loss type's reduction, and the metrics TRL logs.
// Besides the loss it returns d loss / d logp for every token, the seed that back-propagates the loss
// through the GPU's token log-probs (the policy forward and backward stay on the GPU; only the [B, T]
// log-probs and entropies come to the host). Where torch.min has a tie, its gradient is split in half as
// torch's is. Tensors are [B, T] row-major: B completions, T token slots, `mask` 1 on completion tokens.

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'cispo' | 'sapo' | 'luspo' | 'vespo';

export interface LossSettings {
  lossType: LossType;
  beta: number;
  epsilonLow: number;
  epsilonHigh: number;
  delta: number | null;
  importanceSamplingLevel: 'token' | 'sequence';
  useBiasCorrectionKl: boolean;
  topEntropyQuantile: number;
  offPolicyMaskThreshold: number | null;
  /** The configured max_completion_length (dr_grpo's normaliser). */
  maxCompletionLength: number;
  /** The current gradient accumulation steps (TRL's current_gradient_accumulation_steps). */
  gradientAccumulationSteps: number;
  stepsPerGeneration: number;
  sapoTemperaturePos: number;
  sapoTemperatureNeg: number;
  vespoKPos: number;
  vespoLambdaPos: number;
  vespoKNeg: number;
  vespoLambdaNeg: number;
}

export interface LossInputs {
  rows: number;
  cols: number;
  /** The policy's token log-probs [B, T]. */
  logp: ArrayLike<number>;
  /** Log-probs of the policy that generated the batch [B, T]; absent: logp itself, detached. */
  oldLogp?: ArrayLike<number>;
  /** Reference-policy log-probs [B, T]; needed when beta != 0. */
  refLogp?: ArrayLike<number>;
  /** Per-token entropies [B, T]. */
  entropies: ArrayLike<number>;
  mask: ArrayLike<number>;
  /** Per completion [B]. */
  advantages: ArrayLike<number>;
  /** Active completion tokens of the whole generation batch. */
  numItemsInBatch: number;
}

export interface LossResult {
  loss: number;
  /** d loss / d logp [B, T]. */
  grad: Float64Array;
  /** TRL's metrics for this micro-batch (null where TRL logs NaN). */
  metrics: Record<string, number | null>;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
const LOG_1E8 = Math.log(1e-8);

/** torch.quantile with linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  const v = [...values].sort((a, b) => a - b);
  const pos = q * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, v.length - 1);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

/**
 * TRL's get_high_entropy_mask: 1 on completion tokens whose entropy is at or above the
 * (1 - topEntropyQuantile) quantile of the micro-batch's completion-token entropies.
 */
function entropyMask(x: LossInputs, topQuantile: number): Float64Array {
  const n = x.rows * x.cols;
  const active: number[] = [];
  for (let i = 0; i < n; i++) if (x.mask[i]) active.push(x.entropies[i]!);
  const keep = new Float64Array(n);
  if (active.length === 0) return keep;
  const threshold = quantile(active, 1 - topQuantile);
  for (let i = 0; i < n; i++) keep[i] = x.mask[i] && x.entropies[i]! * x.mask[i]! >= threshold ? 1 : 0;
  return keep;
}

/** The GRPO loss, its gradient with respect to logp, and TRL's metrics (see the file header). */
export function grpoLoss(x: LossInputs, s: LossSettings): LossResult {
  const { rows: B, cols: T } = x;
  const n = B * T;
  for (const [name, arr] of [
    ['logp', x.logp],
    ['entropies', x.entropies],
    ['mask', x.mask],
  ] as const)
    if (arr.length !== n) throw new RangeError(`${name} has ${arr.length} values, expected ${B} x ${T}`);
  if (x.advantages.length !== B) throw new RangeError(`${x.advantages.length} advantages for ${B} rows`);
  if (s.beta !== 0 && !x.refLogp) throw new RangeError('beta != 0 needs the reference log-probs');
  const old = x.oldLogp ?? x.logp;
  const sequenceLevel = s.importanceSamplingLevel === 'sequence';
  const clipping = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'luspo'].includes(s.lossType);

  const rowTokens = new Float64Array(B);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) rowTokens[b]! += x.mask[b * T + t]!;

  // Importance ratio: per token, or one per row from the masked mean of the log-ratios.
  const logRatio = new Float64Array(n);
  for (let i = 0; i < n; i++) logRatio[i] = x.logp[i]! - old[i]!;
  const rho = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    let seq = 0;
    if (sequenceLevel) {
      for (let t = 0; t < T; t++) seq += logRatio[b * T + t]! * x.mask[b * T + t]!;
      seq /= Math.max(rowTokens[b]!, 1);
    }
    for (let t = 0; t < T; t++) rho[b * T + t] = Math.exp(sequenceLevel ? seq : logRatio[b * T + t]!);
  }

  // VESPO's detached gamma weight per row.
  const phi = new Float64Array(B);
  if (s.lossType === 'vespo') {
    for (let b = 0; b < B; b++) {
      let seq = 0;
      for (let t = 0; t < T; t++) seq += clamp(logRatio[b * T + t]!, -20, 20) * x.mask[b * T + t]!;
      const logW = clamp(seq, LOG_1E8, 20);
      const pos = x.advantages[b]! >= 0;
      const k = pos ? s.vespoKPos : s.vespoKNeg;
      const lambda = Math.max(pos ? s.vespoLambdaPos : s.vespoLambdaNeg, 1e-4);
      const value = Math.exp(lambda + k * logW - lambda * Math.exp(logW));
      phi[b] = Number.isFinite(value) ? value : 0;
    }
  }

  // Per token: the policy term's value, its derivative through rho (gRho) and its direct derivative
  // in logp (direct); the same for the KL term.
  const policy = new Float64Array(n);
  const gRho = new Float64Array(n);
  const direct = new Float64Array(n);
  const kl = new Float64Array(n);
  const klRho = new Float64Array(n);
  const klDirect = new Float64Array(n);
  const coef1 = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    const A = x.advantages[b]!;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      const r = rho[i]!;
      const lp = x.logp[i]!;
      let c1 = r;
      switch (s.lossType) {
        case 'cispo': {
          const capped = Math.min(r, s.epsilonHigh);
          policy[i] = -capped * A * lp;
          direct[i] = -capped * A;
          break;
        }
        case 'sapo': {
          const temp = A > 0 ? s.sapoTemperaturePos : s.sapoTemperatureNeg;
          const sg = sigmoid(temp * (r - 1));
          policy[i] = ((-sg * 4) / temp) * A;
          gRho[i] = -4 * A * sg * (1 - sg);
          break;
        }
        case 'vespo':
          policy[i] = -phi[b]! * A * lp;
          direct[i] = -phi[b]! * A;
          break;
        default: {
          const c2 = clamp(r, 1 - s.epsilonLow, 1 + s.epsilonHigh);
          const dc2 = r >= 1 - s.epsilonLow && r <= 1 + s.epsilonHigh ? 1 : 0;
          let dc1 = 1;
          if (s.delta !== null) {
            c1 = Math.min(r, s.delta);
            dc1 = r <= s.delta ? 1 : 0;
          }
          const a = c1 * A;
          const bb = c2 * A;
          const da = dc1 * A;
          const db = dc2 * A;
          policy[i] = -Math.min(a, bb);
          gRho[i] = -(a < bb ? da : a > bb ? db : (da + db) / 2);
        }
      }
      coef1[i] = c1;
      if (s.beta !== 0) {
        const diff = x.refLogp![i]! - lp;
        const k3 = Math.exp(diff) - diff - 1;
        const dk3 = 1 - Math.exp(diff);
        if (s.useBiasCorrectionKl) {
          kl[i] = k3 * r;
          klDirect[i] = dk3 * r;
          klRho[i] = k3;
        } else {
          kl[i] = k3;
          klDirect[i] = dk3;
        }
      }
    }
  }

  // Masks on the policy term.
  const keep = new Float64Array(n).fill(1);
  if (s.offPolicyMaskThreshold !== null) {
    for (let b = 0; b < B; b++) {
      let sum = 0;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const d = old[i]! - x.logp[i]!;
        sum += (Number.isNaN(d) ? 0 : d) * x.mask[i]!;
      }
      const avg = sum / Math.max(rowTokens[b]!, 1);
      const kept = x.advantages[b]! >= 0 || avg <= s.offPolicyMaskThreshold ? 1 : 0;
      for (let t = 0; t < T; t++) keep[b * T + t]! *= kept;
    }
  }
  if (s.topEntropyQuantile < 1) {
    const em = entropyMask(x, s.topEntropyQuantile);
    for (let i = 0; i < n; i++) keep[i]! *= em[i]!;
  }

  // The reduction as per-token weights: loss = sum_i w_i * l_i.
  const GA = s.gradientAccumulationSteps;
  const w = new Float64Array(n);
  let totalTokens = 0;
  for (let b = 0; b < B; b++) totalTokens += rowTokens[b]!;
  const numItems = Math.max(x.numItemsInBatch, 1);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      const m = x.mask[i]!;
      switch (s.lossType) {
        case 'grpo':
        case 'sapo':
          w[i] = m / Math.max(rowTokens[b]!, 1) / B / GA;
          break;
        case 'bnpo':
          w[i] = m / Math.max(totalTokens, 1) / GA;
          break;
        case 'dr_grpo':
          w[i] = m / (B * s.maxCompletionLength) / GA;
          break;
        case 'luspo':
          w[i] = m / B / GA;
          break;
        default:
          w[i] = m / ((numItems * GA) / s.stepsPerGeneration);
      }
    }
  }

  let loss = 0;
  const grad = new Float64Array(n);
  // The rho of a sequence-level row depends on every token of the row: gather sum_t w_t dl_t/drho first.
  const rowRho = new Float64Array(B);
  for (let i = 0; i < n; i++) {
    const l = policy[i]! * keep[i]! + s.beta * kl[i]!;
    loss += w[i]! * l;
    const dRho = w[i]! * (gRho[i]! * keep[i]! + s.beta * klRho[i]!);
    grad[i] = w[i]! * (direct[i]! * keep[i]! + s.beta * klDirect[i]!);
    if (sequenceLevel) rowRho[Math.floor(i / T)]! += dRho;
    else grad[i]! += dRho * rho[i]!;
  }
  if (sequenceLevel) {
    // d rho_b / d logp_t = rho_b * m_t / M_b, whether old is given or logp detached.
    for (let b = 0; b < B; b++) {
      const scale = (rowRho[b]! * rho[b * T]!) / Math.max(rowTokens[b]!, 1);
      for (let t = 0; t < T; t++) grad[b * T + t]! += scale * x.mask[b * T + t]!;
    }
  }

  return { loss, grad, metrics: lossMetrics(x, s, { kl, coef1, phi, rowTokens, sequenceLevel, clipping }) };
}

interface MetricInputs {
  kl: Float64Array;
  coef1: Float64Array;
  phi: Float64Array;
  rowTokens: Float64Array;
  sequenceLevel: boolean;
  clipping: boolean;
}

/** The metrics `_compute_loss` logs, with TRL's shapes: a per-row value when T (or the level) makes it one. */
function lossMetrics(x: LossInputs, s: LossSettings, m: MetricInputs): Record<string, number | null> {
  const { rows: B, cols: T } = x;
  const perRow = (v: Float64Array, rowShaped: boolean) => {
    if (rowShaped || T === 1) {
      let sum = 0;
      for (let b = 0; b < B; b++) sum += v[b * T]!;
      return sum / Math.max(B, 1);
    }
    let sum = 0;
    let count = 0;
    for (let i = 0; i < B * T; i++) {
      sum += v[i]! * x.mask[i]!;
      count += x.mask[i]!;
    }
    return sum / Math.max(count, 1);
  };
  const out: Record<string, number | null> = {};
  if (s.beta !== 0) out.kl = perRow(m.kl, false);
  out.entropy = perRow(Float64Array.from(x.entropies), false);
  const flag = (test: (c: number, A: number) => boolean) => {
    const v = new Float64Array(B * T);
    for (let i = 0; i < B * T; i++) v[i] = test(m.coef1[i]!, x.advantages[Math.floor(i / T)]!) ? 1 : 0;
    return v;
  };
  const seqMean = (v: Float64Array) => {
    const out: number[] = [];
    for (let b = 0; b < B; b++) {
      if (m.sequenceLevel || T === 1) {
        out.push(v[b * T]!);
        continue;
      }
      let sum = 0;
      for (let t = 0; t < T; t++) sum += v[b * T + t]! * x.mask[b * T + t]!;
      out.push(sum / m.rowTokens[b]!);
    }
    return out.filter((y) => !Number.isNaN(y));
  };
  if (m.clipping) {
    const low = flag((c, A) => c < 1 - s.epsilonLow && A < 0);
    const high = flag((c, A) => c > 1 + s.epsilonHigh && A > 0);
    const region = low.map((l, i) => (l || high[i] ? 1 : 0));
    out['clip_ratio/low_mean'] = perRow(low, m.sequenceLevel);
    out['clip_ratio/high_mean'] = perRow(high, m.sequenceLevel);
    out['clip_ratio/region_mean'] = perRow(region, m.sequenceLevel);
    const lows = seqMean(low);
    const highs = seqMean(high);
    out['clip_ratio/low_min'] = lows.length ? Math.min(...lows) : null;
    out['clip_ratio/high_max'] = highs.length ? Math.max(...highs) : null;
  } else if (s.lossType === 'cispo') {
    out.cispo_clip_ratio = perRow(
      flag((c, A) => c > s.epsilonHigh && A > 0),
      m.sequenceLevel,
    );
  } else if (s.lossType === 'vespo') {
    const phiRows = new Float64Array(B * T);
    for (let i = 0; i < B * T; i++) phiRows[i] = m.phi[Math.floor(i / T)]!;
    out['vespo/phi_seq_mean'] = perRow(phiRows, true);
  }
  return out;
}
