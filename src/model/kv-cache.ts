// The decoder's key/value cache for generation: per layer, post-RoPE keys and values
// [rows, maxLen, kvHeads, headDim] for `rows` sequences (the G samples of each of B prompts, prompt by
// prompt), and how many positions of each row are filled. The prompt is written by GPU copies, each
// decode step by ropeIntoCache (src/gpu/ops/rope.ts); nothing is read back.
import type { Gpu } from '../gpu/context.ts';
import { stridedCopy } from '../gpu/ops/layout.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';
import { DecoderInputError } from './errors.ts';

export interface KvCache {
  readonly rows: number;
  readonly maxLen: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Per layer [rows, maxLen, kvHeads, headDim]. */
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** Filled positions per row. */
  readonly lengths: Int32Array;
}

/** An empty cache for every decoder layer of `config` (uninitialised memory, all lengths 0). */
export function createKvCache(gpu: Gpu, config: ModelConfig, rows: number, maxLen: number): KvCache {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(maxLen) || maxLen < 1)
    throw new DecoderInputError(
      `a KV cache needs at least one row and one position, got ${rows} x ${maxLen}`,
    );
  const t = config.text;
  const shape = [rows, maxLen, t.numKeyValueHeads, t.headDim];
  const keys: Tensor[] = [];
  const values: Tensor[] = [];
  try {
    for (let l = 0; l < t.numHiddenLayers; l++) {
      keys.push(gpu.keep(gpu.empty(shape)));
      values.push(gpu.keep(gpu.empty(shape)));
    }
  } catch (e) {
    for (const x of [...keys, ...values]) x.dispose();
    throw e;
  }
  return {
    rows,
    maxLen,
    kvHeads: t.numKeyValueHeads,
    headDim: t.headDim,
    keys,
    values,
    lengths: new Int32Array(rows),
  };
}

export function disposeKvCache(cache: KvCache): void {
  for (const x of [...cache.keys, ...cache.values]) x.dispose();
  cache.keys.length = 0;
  cache.values.length = 0;
}

/**
 * Writes one sequence's keys and values k, v [S, kvHeads, headDim] of `layer` at positions [0, S) of
 * rows [rowStart, rowStart + rowCount) (a prompt prefilled once, replicated for its G samples).
 * Lengths are set by the caller.
 */
export function writePrefix(
  gpu: Gpu,
  cache: KvCache,
  layer: number,
  k: Tensor,
  v: Tensor,
  rowStart = 0,
  rowCount = cache.rows - rowStart,
): void {
  const S = k.shape[0]!;
  const w = cache.kvHeads * cache.headDim;
  if (S > cache.maxLen)
    throw new DecoderInputError(`${S} prompt tokens do not fit in a KV cache of ${cache.maxLen} positions`);
  if (rowStart < 0 || rowCount < 1 || rowStart + rowCount > cache.rows)
    throw new DecoderInputError(
      `rows [${rowStart}, ${rowStart + rowCount}) are outside the ${cache.rows} cache rows`,
    );
  const shape = [rowCount, S, w];
  const from = { shape, strides: [0, w, 1], offset: 0 };
  const to = { shape, strides: [cache.maxLen * w, w, 1], offset: rowStart * cache.maxLen * w };
  stridedCopy(gpu, k, from, cache.keys[layer]!, to);
  stridedCopy(gpu, v, from, cache.values[layer]!, to);
}
