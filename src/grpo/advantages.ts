// Group-relative advantages from the reward table of one generation batch, as TRL 1.13's
// `_generate_and_score_completions` computes them, and the reward metrics it logs for that batch.
// Rows are completions, G consecutive rows per prompt; columns are reward functions, null where a
// function could not score a completion (TRL's None). Computed in float64.

export type ScaleRewards = 'group' | 'batch' | 'none';
export type RewardAggregation = 'sum_then_normalize' | 'normalize_then_sum';

export interface AdvantageSettings {
  numGenerations: number;
  scaleRewards: ScaleRewards;
  aggregation: RewardAggregation;
  /** One weight per reward function. */
  weights: readonly number[];
  /** The reward functions' names, for the `rewards/<name>/mean` metrics. */
  names: readonly string[];
}

export interface Advantages {
  /** Per completion; 0 for an unscorable one. */
  advantages: Float64Array;
  /** Weighted reward sum per completion; NaN when every reward function returned null. */
  rewards: Float64Array;
  /** reward, reward_std, rewards/<name>/mean and /std, frac_reward_zero_std (null where NaN). */
  metrics: Record<string, number | null>;
}

function nanMean(xs: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (Number.isNaN(x)) continue;
    sum += x;
    n++;
  }
  return n === 0 ? Number.NaN : sum / n;
}

/** Bessel-corrected standard deviation over the non-NaN values; NaN with fewer than two. */
export function nanStd(xs: ArrayLike<number>): number {
  const mean = nanMean(xs);
  let sq = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (Number.isNaN(x)) continue;
    sq += (x - mean) ** 2;
    n++;
  }
  return n > 1 ? Math.sqrt(sq / (n - 1)) : Number.NaN;
}

const nullIfNaN = (x: number): number | null => (Number.isNaN(x) ? null : x);

/** torch.isclose(std, 0) with its default tolerances. */
const isZero = (x: number): boolean => Math.abs(x) <= 1e-8;

/** Splits a flat per-completion array into its groups of G. */
function groups(xs: Float64Array, G: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < xs.length; i += G) out.push(xs.subarray(i, i + G));
  return out;
}

/** Advantages and reward metrics of one generation batch (see the file header). */
export function computeAdvantages(
  rewardsPerFunc: readonly (readonly (number | null)[])[],
  s: AdvantageSettings,
): Advantages {
  const N = rewardsPerFunc.length;
  const K = s.weights.length;
  const G = s.numGenerations;
  if (N % G !== 0) throw new RangeError(`${N} completions are not whole groups of ${G}`);
  if (s.names.length !== K) throw new RangeError(`${s.names.length} reward names for ${K} weights`);
  const table = rewardsPerFunc.map((row, i) => {
    if (row.length !== K) throw new RangeError(`completion ${i} has ${row.length} rewards, expected ${K}`);
    return row.map((r) => (r === null ? Number.NaN : r));
  });
  const unscorable = table.map((row) => row.every(Number.isNaN));
  const weightedSum = (row: readonly number[]) =>
    row.reduce((acc, r, k) => (Number.isNaN(r) ? acc : acc + r * s.weights[k]!), 0);

  const rewards = new Float64Array(N);
  const advantages = new Float64Array(N);
  const std = new Float64Array(N);
  if (s.aggregation === 'sum_then_normalize') {
    for (let i = 0; i < N; i++) rewards[i] = unscorable[i] ? Number.NaN : weightedSum(table[i]!);
    const batchStd = N > 1 ? nanStd(rewards) : 0;
    groups(rewards, G).forEach((group, g) => {
      const mean = nanMean(group);
      const groupStd = G > 1 ? nanStd(group) : 0;
      for (let j = 0; j < G; j++) {
        const i = g * G + j;
        std[i] = s.scaleRewards === 'batch' ? batchStd : groupStd;
        const centred = rewards[i]! - mean;
        advantages[i] = s.scaleRewards === 'none' ? centred : centred / (std[i]! + 1e-4);
      }
    });
  } else {
    const normalised = table.map((row) => row.slice());
    for (let k = 0; k < K; k++) {
      for (let g = 0; g < N / G; g++) {
        const column = Float64Array.from({ length: G }, (_, j) => table[g * G + j]![k]!);
        const mean = nanMean(column);
        const colStd = G > 1 ? nanStd(column) : 0;
        for (let j = 0; j < G; j++) normalised[g * G + j]![k] = (column[j]! - mean) / (colStd + 1e-4);
      }
    }
    for (let i = 0; i < N; i++) rewards[i] = unscorable[i] ? Number.NaN : weightedSum(normalised[i]!);
    const batchStd = N > 1 ? nanStd(rewards) : 0;
    const batchMean = nanMean(rewards);
    for (let i = 0; i < N; i++) {
      std[i] = batchStd;
      advantages[i] = (rewards[i]! - batchMean) / (batchStd + 1e-4);
    }
  }
  for (let i = 0; i < N; i++) if (Number.isNaN(advantages[i]!)) advantages[i] = 0;

  const total = new Float64Array(N);
  for (let i = 0; i < N; i++) total[i] = unscorable[i] ? Number.NaN : weightedSum(table[i]!);
  const metrics: Record<string, number | null> = {};
  s.names.forEach((name, k) => {
    const column = table.map((row) => row[k]!);
    metrics[`rewards/${name}/mean`] = nullIfNaN(nanMean(column));
    metrics[`rewards/${name}/std`] = nullIfNaN(nanStd(column));
  });
  metrics.reward = nullIfNaN(nanMean(total));
  metrics.reward_std = nullIfNaN(nanStd(total));
  metrics.frac_reward_zero_std = std.reduce((n, x) => n + (isZero(x) ? 1 : 0), 0) / N;
  return { advantages, rewards: total, metrics };
}
