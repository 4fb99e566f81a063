// Scoring completions under a policy: B prompt + completion sequences packed into one decoder pass
// (attention stays inside each sequence through cu_seqlens; every sequence keeps its own M-RoPE
// positions), the images' features computed once per distinct image and gathered into every sequence
// that shows it, and the logits kept only where they predict a completion token (TRL's logits_to_keep).
// Returns the per-token log-probs under the sampling temperature (recorded on an active tape, so a loss
// seeded on them back-propagates into the trainable weights) and, on request, the entropies.
import { noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { embedding } from '../gpu/ops/embedding.ts';
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
  /** Gradient checkpointing of the decoder layers and vision blocks. */
  recompute?: Recompute;
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
    const logits = lmHead(gpu, config, weights, embedding(gpu, hidden, keep), { linear: options.linear });
    const target = Int32Array.from(targets);
    const logp = tokenLogprobs(gpu, logits, target, options.temperature);
    const ent = options.entropy ? noGrad(gpu, () => entropyOp(gpu, logits, options.temperature)) : undefined;
    return ent ? { logp, entropy: ent, offsets } : { logp, offsets };
  });
}
