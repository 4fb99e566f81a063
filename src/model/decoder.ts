// The Qwen2 decoder (the language model of Qwen2-VL / Qwen2.5-VL) on the GPU: token embeddings with
// image features spliced in at the image-pad positions, then per layer a pre-norm block of GQA causal
// attention (q/k/v with bias, o without, M-RoPE) and a SwiGLU MLP, both residual, then the final RMSNorm
// and the LM head (the embedding matrix when tied). Every step is an autograd-recorded op, so gradients
// reach the weights and the image features; under noGrad nothing is recorded or kept.
import { checkpoint, type Replay } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { swiglu } from '../gpu/ops/activations.ts';
import { add } from '../gpu/ops/add.ts';
import { attention } from '../gpu/ops/attention.ts';
import { embedding } from '../gpu/ops/embedding.ts';
import { concat, reshape } from '../gpu/ops/layout.ts';
import { linear, linearPair, swigluLinear } from '../gpu/ops/linear.ts';
import { addRmsNorm, rmsNorm } from '../gpu/ops/rmsnorm.ts';
import { applyRope, ropeTable } from '../gpu/ops/rope.ts';
import { mropeAngles } from '../gpu/rope-angles.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';
import { DecoderInputError } from './errors.ts';
import { getWeight, type Weights } from './weights.ts';

/**
 * A projection of the decoder: `name` is the module's HF name without `.weight`
 * (`model.layers.3.self_attn.q_proj`, `lm_head`). Replace it to add LoRA adapters.
 */
export type LinearFn = (gpu: Gpu, name: string, x: Tensor, weight: Tensor, bias?: Tensor) => Tensor;

/** The default projection; the MLP fuses its gate into the up projection only with this one. */
export const plainLinear: LinearFn = (gpu, _name, x, weight, bias) => linear(gpu, x, weight, bias);

export interface DecoderInput {
  /** Token ids [S]; ids equal to config.tokens.imageTokenId are image-pad positions. */
  inputIds: Int32Array;
  /** M-RoPE position rows (t, h, w), each [S], as get_rope_index gives them. */
  positions: readonly [Int32Array, Int32Array, Int32Array];
  /** [number of image-pad tokens, hidden]: placed at the image-pad positions, in order. */
  imageFeatures?: Tensor;
  /** Bounds of packed sequences ([0, ..., S]); tokens attend only inside their own. Default: one. */
  cuSeqlens?: Int32Array | readonly number[];
}

/** Self-attention of one layer on its post-RoPE q [S, Hq, D], k and v [S, Hkv, D]. */
export type AttendFn = (layer: number, q: Tensor, k: Tensor, v: Tensor) => Tensor;

export interface DecoderOptions {
  /** Replaces every projection (q/k/v/o, gate/up/down, LM head); default a plain linear. */
  linear?: LinearFn;
  /** Replaces the attention (generation attends to a KV cache); default causal attention over x. */
  attend?: AttendFn;
  /** Replaces RoPE and the attention together: gets q and k unrotated, and the rope table (a decode
   *  step rotates them and writes the KV cache in one kernel). Takes precedence over `attend`. */
  attendWithRope?: (layer: number, q: Tensor, k: Tensor, v: Tensor, rope: Tensor) => Tensor;
  /** Gradient checkpointing: see Recompute. */
  recompute?: Recompute;
}

/**
 * Gradient checkpointing: under a tape, each layer keeps only its input and runs again in the backward.
 * `capture` is called before a layer runs and returns how to run it again with the random state
 * (LoRA dropout masks) the first run drew.
 */
export interface Recompute {
  capture?: () => Replay;
}

/**
 * Input embeddings [S, hidden]: embedding rows for text tokens, image feature rows at the image-pad
 * positions. With images, the text rows and the features are joined and gathered back into token order,
 * so gradients flow to both the embedding table and the features.
 */
export function embedInputs(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  inputIds: Int32Array,
  imageFeatures?: Tensor,
): Tensor {
  const table = getWeight(weights, 'model.embed_tokens.weight');
  const imageId = config.tokens.imageTokenId;
  const hidden = config.text.hiddenSize;
  const S = inputIds.length;
  let pads = 0;
  for (let i = 0; i < S; i++) if (inputIds[i] === imageId) pads++;
  const rows = imageFeatures?.shape[0] ?? 0;
  if (imageFeatures && (imageFeatures.shape.length !== 2 || imageFeatures.shape[1] !== hidden))
    throw new DecoderInputError(
      `image features are [${imageFeatures.shape}], expected [tokens, ${hidden}] (the decoder's hidden size)`,
    );
  if (pads !== rows)
    throw new DecoderInputError(
      `the ids hold ${pads} image-pad tokens (id ${imageId}) but ${rows} image feature rows were given; ` +
        'expand each image into as many pads as its merged patches (grid_t * grid_h * grid_w / 4)',
    );
  if (pads === 0) return embedding(gpu, table, inputIds);

  return gpu.scope(() => {
    const textIds = new Int32Array(S - pads);
    const order = new Int32Array(S);
    let text = 0;
    let image = 0;
    for (let i = 0; i < S; i++) {
      if (inputIds[i] === imageId) order[i] = S - pads + image++;
      else {
        order[i] = text;
        textIds[text++] = inputIds[i]!;
      }
    }
    const features = imageFeatures!;
    const joined = text === 0 ? features : concat(gpu, [embedding(gpu, table, textIds), features], 0);
    return embedding(gpu, joined, order);
  });
}

/** The M-RoPE cos|sin table [S, headDim] for the given position rows. */
export function decoderRopeTable(
  gpu: Gpu,
  config: ModelConfig,
  positions: readonly [Int32Array, Int32Array, Int32Array],
): Tensor {
  const t = config.text;
  return ropeTable(gpu, mropeAngles(positions, t.headDim, t.ropeTheta, t.mropeSection), t.headDim);
}

/** One decoder layer: x + Attn(RMSNorm(x)), then + MLP(RMSNorm(.)). x [S, hidden] -> [S, hidden]. */
export function decoderLayer(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  layer: number,
  x: Tensor,
  rope: Tensor,
  cuSeqlens?: Int32Array | readonly number[],
  options: DecoderOptions = {},
): Tensor {
  const out = decoderLayerSplit(gpu, config, weights, layer, { x }, rope, cuSeqlens, options);
  return add(gpu, out.x, out.pending!);
}

/**
 * The residual stream between layers: x, plus `pending` (the last layer's MLP output) when that is not
 * added yet. Leaving it to the next layer's input norm, or the final norm, fuses the add into the norm's
 * kernel where nothing needs a gradient.
 */
export interface Residual {
  x: Tensor;
  pending?: Tensor;
}

/** decoderLayer on a residual stream: returns the stream after the attention block and the MLP output. */
export function decoderLayerSplit(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  layer: number,
  input: Residual,
  rope: Tensor,
  cuSeqlens?: Int32Array | readonly number[],
  options: DecoderOptions = {},
): Residual {
  const t = config.text;
  const proj = options.linear ?? plainLinear;
  const p = `model.layers.${layer}.`;
  const w = (name: string) => getWeight(weights, `${p}${name}`);
  const project = (module: string, input: Tensor, bias: boolean) =>
    proj(gpu, `${p}${module}`, input, w(`${module}.weight`), bias ? w(`${module}.bias`) : undefined);
  const S = input.x.shape[0]!;
  const D = t.headDim;

  const { x, normed: h } = residualNorm(gpu, input, w('input_layernorm.weight'), t.rmsNormEps);
  const qRaw = project('self_attn.q_proj', h, true);
  const [kRaw, vRaw] =
    proj === plainLinear
      ? linearPair(
          gpu,
          h,
          w('self_attn.k_proj.weight'),
          w('self_attn.v_proj.weight'),
          w('self_attn.k_proj.bias'),
          w('self_attn.v_proj.bias'),
        )
      : [project('self_attn.k_proj', h, true), project('self_attn.v_proj', h, true)];
  const v = reshape(gpu, vRaw, [S, t.numKeyValueHeads, D]);
  let a: Tensor;
  if (options.attendWithRope) {
    const q = reshape(gpu, qRaw, [S, t.numAttentionHeads, D]);
    a = options.attendWithRope(layer, q, reshape(gpu, kRaw, [S, t.numKeyValueHeads, D]), v, rope);
  } else {
    const q = applyRope(gpu, qRaw, rope, { heads: t.numAttentionHeads, headDim: D });
    const k = applyRope(gpu, kRaw, rope, { heads: t.numKeyValueHeads, headDim: D });
    a = options.attend
      ? options.attend(layer, q, k, v)
      : attention(gpu, q, k, v, { causal: true, cuSeqlens });
  }
  const o = project('self_attn.o_proj', reshape(gpu, a, [S, t.numAttentionHeads * D]), false);
  const { sum: x1, normed: h2 } = addRmsNorm(gpu, x, o, w('post_attention_layernorm.weight'), t.rmsNormEps);
  const gated =
    proj === plainLinear
      ? swigluLinear(gpu, h2, w('mlp.gate_proj.weight'), w('mlp.up_proj.weight'))
      : swiglu(gpu, project('mlp.gate_proj', h2, false), project('mlp.up_proj', h2, false));
  return { x: x1, pending: project('mlp.down_proj', gated, false) };
}

/** The stream's sum (x when nothing is pending) and its RMSNorm. */
function residualNorm(gpu: Gpu, r: Residual, w: Tensor, eps: number): { x: Tensor; normed: Tensor } {
  if (!r.pending) return { x: r.x, normed: rmsNorm(gpu, r.x, w, eps) };
  const { sum, normed } = addRmsNorm(gpu, r.x, r.pending, w, eps);
  return { x: sum, normed };
}

/** Final RMSNorm of the hidden states (a tensor, or a residual stream) -> LM head logits [S, vocab]
 *  (the embedding matrix when tied). */
export function lmHead(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  hidden: Tensor | Residual,
  options: DecoderOptions = {},
): Tensor {
  const t = config.text;
  const head = getWeight(weights, t.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const proj = options.linear ?? plainLinear;
  const stream = 'shape' in hidden ? { x: hidden } : hidden;
  return gpu.scope(() => {
    const { normed } = residualNorm(gpu, stream, getWeight(weights, 'model.norm.weight'), t.rmsNormEps);
    return proj(gpu, 'lm_head', normed, head);
  });
}

/** Embeddings and every decoder layer: the hidden states [S, hidden] before the final norm. */
export function decoderHidden(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  input: DecoderInput,
  options: DecoderOptions = {},
): Tensor {
  const S = input.inputIds.length;
  if (S === 0) throw new DecoderInputError('no tokens were given');
  if (input.positions.length !== 3 || input.positions.some((row) => row.length !== S))
    throw new DecoderInputError(
      `positions must be three rows (t, h, w) of ${S} ids each, got rows of ${input.positions.map((r) => r.length).join(', ')}`,
    );
  // The scope frees everything but the result, also on an error; the tape keeps its own references to
  // what a backward reads (the rope table, saved activations).
  return gpu.scope(() => {
    const rope = decoderRopeTable(gpu, config, input.positions);
    let x = embedInputs(gpu, config, weights, input.inputIds, input.imageFeatures);
    for (let l = 0; l < config.text.numHiddenLayers; l++) {
      const prev = x;
      const layer = ([h, table]: Tensor[]) =>
        decoderLayer(gpu, config, weights, l, h!, table!, input.cuSeqlens, options);
      x = gpu.scope(() =>
        options.recompute ? checkpoint(gpu, layer, [prev, rope], options.recompute) : layer([prev, rope]),
      );
      prev.dispose();
    }
    return x;
  });
}

/** The decoder forward for one (or one packed) sequence: logits [S, vocab]. */
export function decoderForward(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  input: DecoderInput,
  options: DecoderOptions = {},
): Tensor {
  const hidden = decoderHidden(gpu, config, weights, input, options);
  try {
    return lmHead(gpu, config, weights, hidden, options);
  } finally {
    hidden.dispose();
  }
}
