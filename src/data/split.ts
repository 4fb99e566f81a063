// A seeded train / test split of a dataset's rows and a sampler of per-step index batches over
// epochs (reshuffled each epoch from the seed and the epoch number, resumable from a saved state).

import { DataOptionsError } from './errors.ts';
import { checkSeed, mixSeed, Rng } from './rng.ts';

export interface Split<T> {
  train: T[];
  test: T[];
}

/**
 * Splits `ids` into disjoint train and test parts covering them all: round(n * testFraction) ids,
 * chosen by a seeded shuffle, go to test. Each part keeps the input order.
 */
export function splitRows<T>(ids: readonly T[], testFraction: number, seed: number): Split<T> {
  checkSeed(seed);
  if (!(testFraction >= 0 && testFraction <= 1)) {
    throw new DataOptionsError(`the test fraction must be between 0 and 1, got ${String(testFraction)}`);
  }
  const n = ids.length;
  const order = new Rng(mixSeed(seed, 0x5b117)).shuffle(Array.from({ length: n }, (_, i) => i));
  const inTest = new Uint8Array(n);
  for (const i of order.slice(0, Math.round(n * testFraction))) inTest[i] = 1;
  const split: Split<T> = { train: [], test: [] };
  ids.forEach((id, i) => {
    (inTest[i] ? split.test : split.train).push(id);
  });
  return split;
}

export interface SamplerOptions {
  seed: number;
  batchSize: number;
  /** Reshuffle each epoch (default true); off: indices in order. */
  shuffle?: boolean;
  /** Drop an epoch's last batch when it is short (default false). */
  dropLast?: boolean;
}

/** Everything needed to continue a sampler exactly where it stopped (JSON-serialisable). */
export interface SamplerState {
  n: number;
  seed: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  /** The epoch the next batch comes from (0-based)... */
  epoch: number;
  /** ...and its position in that epoch's order. */
  position: number;
}

/** Index batches over `n` rows, epoch after epoch; a batch never spans two epochs. */
export class Sampler {
  readonly n: number;
  private readonly seed: number;
  private readonly batchSize: number;
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private epochNo = 0;
  private position = 0;
  private cached: { epoch: number; order: number[] } | undefined;

  constructor(n: number, options: SamplerOptions) {
    checkSeed(options.seed);
    if (!Number.isInteger(n) || n < 1)
      throw new DataOptionsError(`the sampler needs at least one row, got ${n}`);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new DataOptionsError(`the batch size must be a whole number >= 1, got ${options.batchSize}`);
    }
    this.n = n;
    this.seed = options.seed;
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    if (this.stepsPerEpoch === 0) {
      throw new DataOptionsError(
        `batch size ${this.batchSize} with dropLast is larger than the ${n} rows: no batch would ever be drawn; lower the batch size or turn dropLast off`,
      );
    }
  }

  /** The epoch the next batch comes from. */
  get epoch(): number {
    return this.epochNo;
  }

  get stepsPerEpoch(): number {
    return this.dropLast ? Math.floor(this.n / this.batchSize) : Math.ceil(this.n / this.batchSize);
  }

  /** The order of the row indices in `epoch`: a permutation of 0 .. n-1. */
  order(epoch: number): number[] {
    if (this.cached?.epoch === epoch) return this.cached.order;
    const order = Array.from({ length: this.n }, (_, i) => i);
    if (this.shuffle) new Rng(mixSeed(this.seed, epoch, 0x5a3b1e)).shuffle(order);
    this.cached = { epoch, order };
    return order;
  }

  /** The next step's batch of row indices. */
  next(): number[] {
    const end = this.epochEnd();
    if (this.position >= end) this.startNextEpoch();
    const batch = this.order(this.epochNo).slice(
      this.position,
      Math.min(this.position + this.batchSize, end),
    );
    this.position += batch.length;
    if (this.position >= end) this.startNextEpoch();
    return batch;
  }

  private epochEnd(): number {
    return this.dropLast ? this.stepsPerEpoch * this.batchSize : this.n;
  }

  private startNextEpoch(): void {
    this.epochNo++;
    this.position = 0;
  }

  state(): SamplerState {
    return {
      n: this.n,
      seed: this.seed,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      epoch: this.epochNo,
      position: this.position,
    };
  }

  /** Continues from a saved state; it must come from a sampler with the same rows and options. */
  restore(state: SamplerState): void {
    const mine = this.state();
    for (const key of ['n', 'seed', 'batchSize', 'shuffle', 'dropLast'] as const) {
      if (state[key] !== mine[key]) {
        throw new DataOptionsError(
          `the saved sampler state has ${key} = ${String(state[key])} but this sampler has ${String(mine[key])}; resume with the same dataset and batch settings`,
        );
      }
    }
    if (
      !Number.isInteger(state.epoch) ||
      state.epoch < 0 ||
      !Number.isInteger(state.position) ||
      state.position < 0 ||
      state.position > this.n
    ) {
      throw new DataOptionsError(
        `the saved sampler state is corrupt (epoch ${state.epoch}, position ${state.position})`,
      );
    }
    this.epochNo = state.epoch;
    this.position = state.position;
  }
}
