// Generation with a KV cache: each of B prompts is prefilled once (image features spliced, M-RoPE
// positions), its per-layer keys and values copied into its G sample rows of the cache, then each decode
// step runs the B x G newest tokens through the decoder together (RoPE at the row's token index + its
// prompt's ropeDelta, the same on t, h and w), attends each to its own cached prefix, and samples the next
// B x G tokens on the GPU. Only the sampled ids (and, on request, their log-probs) are read back. Nothing
// is recorded on the autograd tape. Rows that hit a stop id keep being computed, padded, until every row
// is done; their output is ignored.
import { noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { attention } from '../gpu/ops/attention.ts';
import { ropeAttendDecode } from '../gpu/ops/attention-decode.ts';
import { embedding, embeddingRows } from '../gpu/ops/embedding.ts';
import { concat, slice, stridedCopy } from '../gpu/ops/layout.ts';
import { tokenLogprobs } from '../gpu/ops/logprobs.ts';
import { sample } from '../gpu/ops/sample.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';
import {
  type AttendFn,
  type DecoderOptions,
  decoderLayerSplit,
  decoderRopeTable,
  embedInputs,
  type LinearFn,
  lmHead,
  plainLinear,
  type Residual,
} from './decoder.ts';
import { DecoderInputError } from './errors.ts';
import { createKvCache, disposeKvCache, type KvCache, writePrefix } from './kv-cache.ts';
import { getWeight, type Weights } from './weights.ts';

/** One prompt to complete. */
export interface GenerationPrompt {
  /** Prompt token ids [S]; image-pad ids take the rows of `imageFeatures`, in order. */
  inputIds: Int32Array;
  /** The prompt's M-RoPE position rows (t, h, w), from getRopeIndex. */
  positions: readonly [Int32Array, Int32Array, Int32Array];
  /** From getRopeIndex: a new token at index i gets position i + ropeDelta. */
  ropeDelta: number;
  /** [image-pad tokens, hidden] (the vision tower's merged output). */
  imageFeatures?: Tensor;
}

export interface SamplingOptions {
  /** G: completions of each prompt, sampled side by side. */
  numSamples: number;
  maxNewTokens: number;
  /** 0: greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  /** u32 seed of the sampler; draws depend on (seed, step, row) only. */
  seed: number;
  /** A row ends at the first of these it produces (kept in its ids). Default config.tokens.eosTokenIds. */
  stopIds?: readonly number[];
  /** Also return the log-prob of every sampled token (under the sampling temperature; 1 when greedy). */
  logprobs?: boolean;
  /** Replaces every projection (LoRA); default a plain linear. */
  linear?: LinearFn;
  /**
   * Ids never sampled (HF's suppress_tokens): their logits are set to -inf before sampling, e.g. the
   * image pads and vision markers, which an untrained model may otherwise emit.
   */
  suppressIds?: readonly number[];
}

export interface GenerateOptions extends GenerationPrompt, SamplingOptions {}

export interface BatchGenerateOptions extends SamplingOptions {
  /** B prompts; the result has their B x G completions, prompt by prompt. */
  prompts: readonly GenerationPrompt[];
}

export interface GenerateResult {
  /** Completion ids per sample, the stop id included when one was produced. */
  ids: number[][];
  /** Per sample, one log-prob per id (empty arrays unless `logprobs` was asked for). */
  logprobs: number[][];
  /** Whether each sample ended with a stop id (false: it reached maxNewTokens). */
  finished: boolean[];
}

/** Every decoder layer on x0; the last MLP output is left pending for the final norm to add. */
function runLayers(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  x0: Tensor,
  rope: Tensor,
  attention: Pick<DecoderOptions, 'attend' | 'attendWithRope'>,
  proj: LinearFn,
): Residual {
  let stream: Residual = { x: x0 };
  for (let l = 0; l < config.text.numHiddenLayers; l++) {
    const prev = stream;
    stream = gpu.scope(() =>
      decoderLayerSplit(gpu, config, weights, l, prev, rope, undefined, { linear: proj, ...attention }),
    );
    prev.x.dispose();
    prev.pending?.dispose();
  }
  return stream;
}

export interface PrefillInput {
  inputIds: Int32Array;
  positions: readonly [Int32Array, Int32Array, Int32Array];
  imageFeatures?: Tensor;
}

/**
 * Runs the prompt through the decoder once, writes its keys and values into positions [0, S) of cache
 * rows [rowStart, rowStart + rowCount) (default every row; their lengths become S), and returns the
 * logits of its last token [1, vocab].
 */
export function prefill(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  cache: KvCache,
  input: PrefillInput,
  proj: LinearFn = plainLinear,
  rowStart = 0,
  rowCount = cache.rows - rowStart,
): Tensor {
  const S = input.inputIds.length;
  if (S === 0) throw new DecoderInputError('no prompt tokens were given');
  if (input.positions.length !== 3 || input.positions.some((row) => row.length !== S))
    throw new DecoderInputError(
      `positions must be three rows (t, h, w) of ${S} ids each, got rows of ${input.positions.map((r) => r.length).join(', ')}`,
    );
  if (S > cache.maxLen)
    throw new DecoderInputError(`${S} prompt tokens do not fit in a KV cache of ${cache.maxLen} positions`);
  const logits = noGrad(gpu, () =>
    gpu.scope(() => {
      const rope = decoderRopeTable(gpu, config, input.positions);
      const x0 = embedInputs(gpu, config, weights, input.inputIds, input.imageFeatures);
      const attend: AttendFn = (layer, q, k, v) => {
        writePrefix(gpu, cache, layer, k, v, rowStart, rowCount);
        return attention(gpu, q, k, v, { causal: true });
      };
      const hidden = runLayers(gpu, config, weights, x0, rope, { attend }, proj);
      const last = (t: Tensor) => slice(gpu, t, 0, S - 1, S);
      const tail = { x: last(hidden.x), pending: hidden.pending && last(hidden.pending) };
      return lmHead(gpu, config, weights, tail, { linear: proj });
    }),
  );
  cache.lengths.fill(S, rowStart, rowStart + rowCount);
  return logits;
}

/**
 * One decode step: token ids [rows] (one per cache row; on the host, or an i32 tensor on the GPU such as
 * sample()'s output) are appended to the cache, row r at its own length and rope position `positions[r]`
 * (token index + its prompt's ropeDelta; the same on t, h and w; one number: every row's), attended to
 * each row's prefix, and their logits [rows, vocab] returned.
 */
export function decodeStep(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  cache: KvCache,
  ids: Int32Array | Tensor,
  positions: number | ArrayLike<number>,
  proj: LinearFn = plainLinear,
): Tensor {
  const R = cache.rows;
  const count = ids instanceof Int32Array ? ids.length : ids.size;
  if (count !== R) throw new DecoderInputError(`${count} token ids for ${R} KV cache rows`);
  const pos = typeof positions === 'number' ? new Int32Array(R).fill(positions) : Int32Array.from(positions);
  if (pos.length !== R) throw new DecoderInputError(`${pos.length} rope positions for ${R} KV cache rows`);
  const at = Int32Array.from(cache.lengths);
  if (at.some((n) => n >= cache.maxLen))
    throw new DecoderInputError(`the KV cache is full (${cache.maxLen} positions); allocate a longer one`);
  const vocab = config.text.vocabSize;
  if (ids instanceof Int32Array)
    for (const id of ids)
      if (!(id >= 0 && id < vocab)) throw new DecoderInputError(`token id ${id} is outside the vocabulary`);
  const lengths = at.map((n) => n + 1);
  const logits = noGrad(gpu, () =>
    gpu.scope(() => {
      const rope = decoderRopeTable(gpu, config, [pos, pos, pos]);
      const positions = gpu.tensor(Uint32Array.from(at), [R], 'u32');
      const table = getWeight(weights, 'model.embed_tokens.weight');
      const x0 = ids instanceof Int32Array ? embedding(gpu, table, ids) : embeddingRows(gpu, table, ids);
      const attendWithRope = (layer: number, q: Tensor, k: Tensor, v: Tensor, cosSin: Tensor) => {
        const caches = { keys: cache.keys[layer]!, values: cache.values[layer]! };
        return ropeAttendDecode(gpu, q, k, v, cosSin, caches, at, { positions });
      };
      const hidden = runLayers(gpu, config, weights, x0, rope, { attendWithRope }, proj);
      return lmHead(gpu, config, weights, hidden, { linear: proj });
    }),
  );
  cache.lengths.set(lengths);
  return logits;
}

/** Sets column `id` of every row of logits [rows, V] to the values of `fill` [rows] (-inf), in place. */
function suppress(gpu: Gpu, logits: Tensor, fill: Tensor, ids: readonly number[]): void {
  const [rows, V] = logits.shape as [number, number];
  for (const id of ids) {
    if (!(id >= 0 && id < V)) continue;
    stridedCopy(gpu, fill, { shape: [rows], strides: [1], offset: 0 }, logits, {
      shape: [rows],
      strides: [V],
      offset: id,
    });
  }
}

/** Repeats the one row of x [1, n] `rows` times -> [rows, n]. */
function repeatRow(gpu: Gpu, x: Tensor, rows: number): Tensor {
  const n = x.shape[1]!;
  const out = gpu.empty([rows, n]);
  stridedCopy(gpu, x, { shape: [rows, n], strides: [0, 1], offset: 0 }, out, {
    shape: [rows, n],
    strides: [n, 1],
    offset: 0,
  });
  return out;
}

/** Samples `numSamples` completions of one prompt; see GenerateOptions. */
export function generate(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  opts: GenerateOptions,
): Promise<GenerateResult> {
  return generateBatch(gpu, config, weights, { ...opts, prompts: [opts] });
}

/** Samples `numSamples` completions of each prompt in one decode loop; row b * G + j is prompt b's j-th. */
export async function generateBatch(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  opts: BatchGenerateOptions,
): Promise<GenerateResult> {
  const G = opts.numSamples;
  const B = opts.prompts.length;
  const R = B * G;
  if (B < 1) throw new DecoderInputError('no prompts were given');
  if (!Number.isInteger(G) || G < 1) throw new DecoderInputError(`numSamples must be >= 1, got ${G}`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1)
    throw new DecoderInputError(`maxNewTokens must be an integer >= 1, got ${opts.maxNewTokens}`);
  for (const p of opts.prompts)
    if (!Number.isInteger(p.ropeDelta))
      throw new DecoderInputError(`ropeDelta must be an integer, got ${p.ropeDelta}`);
  const stop = new Set(opts.stopIds ?? config.tokens.eosTokenIds);
  const proj = opts.linear ?? plainLinear;
  const lpTemperature = opts.temperature > 0 ? opts.temperature : 1;
  const sampling = { temperature: opts.temperature, topK: opts.topK, topP: opts.topP, seed: opts.seed };

  const ids: number[][] = Array.from({ length: R }, () => []);
  const logprobs: number[][] = Array.from({ length: R }, () => []);
  const finished: boolean[] = new Array<boolean>(R).fill(false);
  const promptLength = Int32Array.from(
    { length: R },
    (_, r) => opts.prompts[Math.floor(r / G)]!.inputIds.length,
  );
  const ropeDelta = Int32Array.from({ length: R }, (_, r) => opts.prompts[Math.floor(r / G)]!.ropeDelta);
  const maxPrompt = Math.max(...promptLength);

  const suppressIds = opts.suppressIds ?? [];
  const cache = createKvCache(gpu, config, R, maxPrompt + opts.maxNewTokens);
  const fill = suppressIds.length
    ? gpu.keep(gpu.tensor(new Float32Array(R).fill(-Infinity), [R]))
    : undefined;
  let logits: Tensor | undefined;
  // Log-probs of a step's tokens are read back with the next step's ids, saving a sync per step.
  let pending: { tensor: Tensor; rows: number[] } | undefined;
  const takePending = (values: ArrayLike<number> | undefined) => {
    if (!pending || !values) return;
    for (const r of pending.rows) logprobs[r]!.push(values[r]!);
    pending.tensor.dispose();
    pending = undefined;
  };
  try {
    logits = gpu.keep(
      noGrad(gpu, () =>
        gpu.scope(() => {
          const firsts = opts.prompts.map((p, b) =>
            repeatRow(gpu, prefill(gpu, config, weights, cache, p, proj, b * G, G), G),
          );
          return firsts.length === 1 ? firsts[0]! : concat(gpu, firsts, 0);
        }),
      ),
    );
    // The next step's decode is queued from the sampled ids on the GPU before they are read back, so
    // the GPU works while the host waits for them; a step decoded after every row stopped is dropped.
    for (let step = 0; step < opts.maxNewTokens && logits; step++) {
      const current: Tensor = logits;
      if (fill) suppress(gpu, current, fill, suppressIds);
      const sampled = noGrad(gpu, () => sample(gpu, current, { ...sampling, step }));
      const reads = Promise.all([gpu.read(sampled), pending ? gpu.read(pending.tensor) : undefined]);
      logits = undefined;
      if (step + 1 < opts.maxNewTokens) {
        const positions = promptLength.map((S, r) => S + step + ropeDelta[r]!);
        logits = gpu.keep(decodeStep(gpu, config, weights, cache, sampled, positions, proj));
        gpu.flush();
      }
      const [drawn, prevLp] = await reads.finally(() => sampled.dispose());
      takePending(prevLp);
      const next = Int32Array.from(drawn);
      const live: number[] = [];
      for (let r = 0; r < R; r++) {
        if (finished[r]) continue;
        live.push(r);
        ids[r]!.push(next[r]!);
        if (stop.has(next[r]!)) finished[r] = true;
      }
      if (opts.logprobs)
        pending = {
          tensor: gpu.keep(noGrad(gpu, () => tokenLogprobs(gpu, current, next, lpTemperature))),
          rows: live,
        };
      current.dispose();
      if (finished.every(Boolean)) break;
    }
    if (pending) takePending(await gpu.read(pending.tensor));
  } finally {
    logits?.dispose();
    pending?.tensor.dispose();
    fill?.dispose();
    disposeKvCache(cache);
  }
  return { ids, logprobs, finished };
}
