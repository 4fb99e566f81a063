// Scoring completions under a policy: B prompt + completion sequences packed into one decoder pass
// (attention stays inside each sequence through cu_seqlens; every sequence keeps its own M-RoPE
// positions), the images' features computed once per distinct image and gathered into every sequence
// that shows it, and the logits kept only where they predict a completion token (TRL's logits_to_keep).
// Returns the per-token log-probs under the sampling temperature (recorded on an active tape, so a loss
// seeded on them back-propagates into the trainable weights) and, on request, the entropies. Under
// gradient checkpointing the kept logits are formed a chunk of rows at a time and formed again in the
// backward, so a long completion's [kept, vocab] logits never exist whole.
import { checkpoint, noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { embedding } from '../gpu/ops/embedding.ts';
import { concat } from '../gpu/ops/layout.ts';
import { entropy as entropyOp, tokenLogprobs } from '../gpu/ops/logprobs.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import { decoderHidden, type LinearFn, lmHead, type Recompute } from '../model/decoder.ts';
import { modelPositions } from '../model/qwen-vl.ts';
import { visionForward } from '../model/vision.ts';
import type { ImageGrid } from '../model/vision-layout.ts';
import type { Weights } from '../model/weights.ts';

/** One image as the processor gave it. */
export interface SequenceImage {
  pixelValues: Float32Array;
  grid: ImageGrid;
}

export interface ScoredSequence {
  promptIds: Int32Array;
  /** The completion's ids: every one is scored. */
  completionIds: readonly number[];
  /** Index into the images list; undefined for a text-only prompt. */
  image?: number;
}

export interface ScoreOptions {
  temperature: number;
  /** The projection hook (LoRA); default a plain linear. */
  linear?: LinearFn;
  /** Also compute the entropies (never recorded on the tape). */
  entropy?: boolean;
  /** Gradient checkpointing of the decoder layers, the vision blocks and the logits. */
  recompute?: Recompute;
  /** Logit rows formed at a time under gradient checkpointing; default logitChunkRows(vocab). */
  logitRows?: number;
}

/** Bytes of one chunk of logits under gradient checkpointing. */
const LOGIT_CHUNK_BYTES = 64 * 2 ** 20;

/** Rows of [rows, vocab] f32 logits in one chunk under gradient checkpointing. */
export function logitChunkRows(vocab: number): number {
  return Math.max(1, Math.floor(LOGIT_CHUNK_BYTES / (4 * vocab)));
}

export interface Scores {
  /** [N]: the log-prob of every completion token, sequence after sequence. */
  logp: Tensor;
  entropy?: Tensor;
  /** Where each sequence's tokens start in logp; offsets[B] = N. */
  offsets: number[];
}

/** The features [pads, hidden] of the listed images, in order (one vision pass over all of them). */
export function imageFeatures(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  images: readonly SequenceImage[],
  recompute = false,
): Tensor {
  const dim = config.vision.patchDim;
  const rows = images.reduce((n, im) => n + im.pixelValues.length / dim, 0);
  const pixels = new Float32Array(rows * dim);
  let at = 0;
  for (const im of images) {
    pixels.set(im.pixelValues, at);
    at += im.pixelValues.length;
  }
  return gpu.scope(() =>
    visionForward(
      gpu,
      config,
      weights,
      gpu.tensor(pixels, [rows, dim]),
      images.map((im) => im.grid),
      { recompute },
    ),
  );
}

/** Log-probs (and entropies) of every completion token of the sequences; see the file header. */
export function scoreSequences(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  sequences: readonly ScoredSequence[],
  images: readonly SequenceImage[],
  options: ScoreOptions,
): Scores {
  const merge = config.vision.spatialMergeSize ** 2;
  const padsOf = (im: SequenceImage) => (im.grid[0] * im.grid[1] * im.grid[2]) / merge;
  const used = [...new Set(sequences.flatMap((s) => (s.image === undefined ? [] : [s.image])))].sort(
    (a, b) => a - b,
  );
  const firstRow = new Map<number, number>();
  let rowsSoFar = 0;
  for (const i of used) {
    firstRow.set(i, rowsSoFar);
    rowsSoFar += padsOf(images[i]!);
  }

  const total = sequences.reduce((n, s) => n + s.promptIds.length + s.completionIds.length, 0);
  const ids = new Int32Array(total);
  const pos = [new Int32Array(total), new Int32Array(total), new Int32Array(total)] as const;
  const cuSeqlens = [0];
  const featureRows: number[] = [];
  const keep: number[] = [];
  const targets: number[] = [];
  const offsets = [0];
  let at = 0;
  for (const s of sequences) {
    const seq = Int32Array.from([...s.promptIds, ...s.completionIds]);
    const image = s.image === undefined ? undefined : images[s.image]!;
    const { positions } = modelPositions(config, seq, image ? [image.grid] : []);
    ids.set(seq, at);
    for (let k = 0; k < 3; k++) pos[k].set(positions[k]!, at);
    if (image) {
      const start = firstRow.get(s.image!)!;
      for (let r = 0; r < padsOf(image); r++) featureRows.push(start + r);
    }
    const P = s.promptIds.length;
    s.completionIds.forEach((id, j) => {
      keep.push(at + P - 1 + j);
      targets.push(id);
    });
    at += seq.length;
    cuSeqlens.push(at);
    offsets.push(targets.length);
  }

  return gpu.scope(() => {
    let features: Tensor | undefined;
    if (used.length > 0) {
      const all = imageFeatures(
        gpu,
        config,
        weights,
        used.map((i) => images[i]!),
        options.recompute !== undefined,
      );
      features = embedding(gpu, all, featureRows);
    }
    const hidden = decoderHidden(
      gpu,
      config,
      weights,
      { inputIds: ids, positions: pos, imageFeatures: features, cuSeqlens },
      { linear: options.linear, recompute: options.recompute },
    );
    const target = Int32Array.from(targets);
    const { logp, entropy } = options.recompute
      ? chunkedLogprobs(gpu, config, weights, hidden, keep, target, options)
      : keptLogprobs(gpu, config, weights, embedding(gpu, hidden, keep), target, options);
    return entropy ? { logp, entropy, offsets } : { logp, offsets };
  });
}

/** Log-probs (and entropies) of the targets from the LM head over the hidden rows `kept`. */
function keptLogprobs(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  kept: Tensor,
  target: Int32Array,
  options: ScoreOptions,
): { logp: Tensor; entropy?: Tensor } {
  const logits = lmHead(gpu, config, weights, kept, { linear: options.linear });
  const logp = tokenLogprobs(gpu, logits, target, options.temperature);
  if (!options.entropy) return { logp };
  return { logp, entropy: noGrad(gpu, () => entropyOp(gpu, logits, options.temperature)) };
}

/**
 * keptLogprobs a chunk of kept rows at a time, each chunk checkpointed: only the chunk's hidden rows are
 * saved, and its logits are formed again in the backward.
 */
function chunkedLogprobs(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  hidden: Tensor,
  keep: readonly number[],
  target: Int32Array,
  options: ScoreOptions,
): { logp: Tensor; entropy?: Tensor } {
  const rows = options.logitRows ?? logitChunkRows(config.text.vocabSize);
  if (keep.length <= rows)
    return keptLogprobs(gpu, config, weights, embedding(gpu, hidden, keep), target, options);
  const logps: Tensor[] = [];
  const entropies: Tensor[] = [];
  try {
    for (let a = 0; a < keep.length; a += rows) {
      const b = Math.min(keep.length, a + rows);
      const chunkTarget = target.subarray(a, b);
      let entropy: Tensor | undefined;
      const chunk = ([kept]: Tensor[]) => {
        const out = keptLogprobs(gpu, config, weights, kept!, chunkTarget, {
          ...options,
          entropy: options.entropy && !entropy,
        });
        // The entropies come from the first run only; the backward's run leaves them out.
        if (out.entropy) entropy = gpu.keep(out.entropy);
        return out.logp;
      };
      logps.push(checkpoint(gpu, chunk, [embedding(gpu, hidden, keep.slice(a, b))], options.recompute));
      if (entropy) entropies.push(entropy);
    }
    return {
      logp: concat(gpu, logps, 0),
      entropy: entropies.length > 0 ? concat(gpu, entropies, 0) : undefined,
    };
  } finally {
    for (const e of entropies) e.dispose();
  }
}
