// The model's weights on the GPU: a map from HF canonical parameter names (the older layout: `model.*`,
// `visual.*`, `lm_head.weight`; see hf-names.ts) to tensors, with lookup that names what is missing,
// a shape check against parameterShapes, and seeded random weights for tests and benchmarks.
import type { Gpu } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type ModelConfig, parameterShapes } from './config.ts';
import { type MisShapedTensor, TensorMismatchError } from './errors.ts';
import { gaussianStream } from './random.ts';

/** Parameter name (canonical HF form) -> tensor. */
export type Weights = Map<string, Tensor>;

/** The tensor called `name`; throws TensorMismatchError when the weights lack it. */
export function getWeight(weights: Weights, name: string): Tensor {
  const t = weights.get(name);
  if (!t)
    throw new TensorMismatchError(
      [name],
      [],
      [],
      `The weights have no tensor '${name}'. Load the checkpoint this config.json belongs to.`,
    );
  return t;
}

/**
 * Checks that every tensor parameterShapes lists (filtered by `filter`, e.g. to the decoder's) is
 * present with its shape; throws TensorMismatchError listing every difference.
 */
export function checkWeights(
  config: ModelConfig,
  weights: Weights,
  filter: (name: string) => boolean = () => true,
): void {
  const missing: string[] = [];
  const misShaped: MisShapedTensor[] = [];
  for (const [name, expected] of Object.entries(parameterShapes(config))) {
    if (!filter(name)) continue;
    const t = weights.get(name);
    if (!t) missing.push(name);
    else if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i]))
      misShaped.push({ name, expected, actual: [...t.shape] });
  }
  if (missing.length === 0 && misShaped.length === 0) return;
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${missing.length} (${missing.slice(0, 5).join(', ')}...)`);
  for (const m of misShaped.slice(0, 5)) parts.push(`${m.name} is [${m.actual}], expected [${m.expected}]`);
  throw new TensorMismatchError(
    missing,
    [],
    misShaped,
    `The weights do not match config.json: ${parts.join('; ')}. Load the checkpoint this config belongs to.`,
  );
}

/** The decoder's parameter names (embedding, layers, final norm, untied LM head). */
export function isDecoderParameter(name: string): boolean {
  return name.startsWith('model.') || name === 'lm_head.weight';
}

/** Disposes every tensor of the weights and empties the map. */
export function disposeWeights(weights: Weights): void {
  for (const t of weights.values()) t.dispose();
  weights.clear();
}

export interface RandomWeightsOptions {
  /** Which parameters to create: all of the checkpoint's (default) or only the decoder's. */
  parts?: 'all' | 'decoder';
}

/**
 * Seeded random f32 weights with every name and shape of parameterShapes: matrices ~ N(0, 1/fan_in)
 * (the embedding ~ N(0, 1/hidden), so tied logits are O(1)), biases ~ N(0, 0.1^2), norm weights
 * 1 + N(0, 0.1^2). For tests and benchmarks; the values carry no meaning.
 */
export function randomWeights(
  gpu: Gpu,
  config: ModelConfig,
  seed: number,
  options: RandomWeightsOptions = {},
): Weights {
  const normal = gaussianStream(seed);
  const weights: Weights = new Map();
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    if (options.parts === 'decoder' && !isDecoderParameter(name)) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let mean = 0;
    let std: number;
    if (shape.length === 1) {
      const isNorm = /(norm\d?|ln_q)\.weight$/.test(name);
      mean = isNorm ? 1 : 0;
      std = 0.1;
    } else if (name.endsWith('embed_tokens.weight') || name === 'lm_head.weight') {
      std = 1 / Math.sqrt(shape[1]!);
    } else {
      std = 1 / Math.sqrt(n / shape[0]!);
    }
    for (let i = 0; i < n; i++) data[i] = mean + std * normal();
    weights.set(name, gpu.keep(gpu.tensor(data, shape)));
  }
  return weights;
}
