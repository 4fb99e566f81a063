// The Qwen2-VL / Qwen2.5-VL vision tower and patch merger on the GPU: pixel_values rows (in the image
// processor's merge-block order) -> patch embedding -> blocks with 2D RoPE attention (block-diagonal per
// frame; inside windows for Qwen2.5-VL's windowed blocks) -> merger -> one feature row per 2x2 merged
// unit, in the processor's order, ready to splice at the image pad tokens. Built from autograd ops, so
// gradients flow to the weights when a tape records; under noGrad nothing is kept.

import { checkpoint } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { type GeluKind, gelu, silu, swiglu } from '../gpu/ops/activations.ts';
import { add } from '../gpu/ops/add.ts';
import { attention } from '../gpu/ops/attention.ts';
import { embedding } from '../gpu/ops/embedding.ts';
import { layerNorm } from '../gpu/ops/layernorm.ts';
import { reshape, slice } from '../gpu/ops/layout.ts';
import { linear } from '../gpu/ops/linear.ts';
import { mul } from '../gpu/ops/mul.ts';
import { rmsNorm } from '../gpu/ops/rmsnorm.ts';
import { applyRope, ropeTable } from '../gpu/ops/rope.ts';
import { visionRopeAngles } from '../gpu/rope-angles.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type ModelConfig, parameterShapes, type VisionActivation, type VisionConfig } from './config.ts';
import { VisionInputError } from './errors.ts';
import { uniformStream } from './random.ts';
import { type ImageGrid, invertPermutation, visionLayout, windowPatchOrder } from './vision-layout.ts';

/** Vision weights keyed by HF name, `visual.*` or `model.visual.*`. */
export type VisionWeights = ReadonlyMap<string, Tensor>;

function weightGetter(weights: VisionWeights): (name: string) => Tensor {
  return (name) => {
    const t = weights.get(`visual.${name}`) ?? weights.get(`model.visual.${name}`);
    if (!t)
      throw new VisionInputError(
        `weight visual.${name} is missing; load every visual.* tensor of the checkpoint (parameterShapes lists them)`,
      );
    return t;
  };
}

function activate(gpu: Gpu, x: Tensor, act: VisionActivation): Tensor {
  if (act === 'silu') return silu(gpu, x);
  const kind: Record<Exclude<VisionActivation, 'silu'>, GeluKind> = {
    quick_gelu: 'quick',
    gelu: 'exact',
    gelu_pytorch_tanh: 'tanh',
  };
  return gelu(gpu, x, kind[act]);
}

function norm(gpu: Gpu, v: VisionConfig, x: Tensor, get: (n: string) => Tensor, name: string): Tensor {
  return v.norm === 'layernorm'
    ? layerNorm(gpu, x, get(`${name}.weight`), get(`${name}.bias`), v.normEps)
    : rmsNorm(gpu, x, get(`${name}.weight`), v.normEps);
}

/** One tower block on x [N, E]: x + attn(norm1(x)), then + mlp(norm2(.)). */
function block(
  gpu: Gpu,
  v: VisionConfig,
  x: Tensor,
  get: (n: string) => Tensor,
  i: number,
  rope: Tensor,
  cuSeqlens: readonly number[],
): Tensor {
  const N = x.shape[0]!;
  const E = v.hiddenSize;
  const H = v.numHeads;
  const D = v.headDim;
  const b = `blocks.${i}.`;
  const h = norm(gpu, v, x, get, `${b}norm1`);
  // The fused qkv row holds q, k and v one after another, each [heads, head_dim].
  const qkv = linear(gpu, h, get(`${b}attn.qkv.weight`), get(`${b}attn.qkv.bias`));
  const q = applyRope(gpu, qkv, rope, { heads: H, headDim: D, offset: 0 });
  const k = applyRope(gpu, qkv, rope, { heads: H, headDim: D, offset: E });
  const val = reshape(gpu, slice(gpu, qkv, 1, 2 * E, 3 * E), [N, H, D]);
  const a = attention(gpu, q, k, val, { causal: false, cuSeqlens });
  const o = linear(gpu, reshape(gpu, a, [N, E]), get(`${b}attn.proj.weight`), get(`${b}attn.proj.bias`));
  const x1 = add(gpu, x, o);
  const h2 = norm(gpu, v, x1, get, `${b}norm2`);
  let m: Tensor;
  if (v.mlpKind === 'fc') {
    const f = activate(gpu, linear(gpu, h2, get(`${b}mlp.fc1.weight`), get(`${b}mlp.fc1.bias`)), v.hiddenAct);
    m = linear(gpu, f, get(`${b}mlp.fc2.weight`), get(`${b}mlp.fc2.bias`));
  } else {
    const gate = linear(gpu, h2, get(`${b}mlp.gate_proj.weight`), get(`${b}mlp.gate_proj.bias`));
    const up = linear(gpu, h2, get(`${b}mlp.up_proj.weight`), get(`${b}mlp.up_proj.bias`));
    const g = v.hiddenAct === 'silu' ? swiglu(gpu, gate, up) : mul(gpu, activate(gpu, gate, v.hiddenAct), up);
    m = linear(gpu, g, get(`${b}mlp.down_proj.weight`), get(`${b}mlp.down_proj.bias`));
  }
  return add(gpu, x1, m);
}

/**
 * One tower block (`visual.blocks.<index>`) on x [N, E] with a 2D RoPE table and attention bounds the
 * caller built (visionForward builds them from the grids): for checking single blocks at full size.
 */
export function visionBlock(
  gpu: Gpu,
  v: VisionConfig,
  weights: VisionWeights,
  index: number,
  x: Tensor,
  rope: Tensor,
  cuSeqlens: readonly number[],
): Tensor {
  return gpu.scope(() => block(gpu, v, x, weightGetter(weights), index, rope, cuSeqlens));
}

/**
 * Runs the tower and merger. pixelValues [N, patchDim] f32 (N = sum of t*h*w over `grids`, rows in the
 * processor's order), grids one [t, h, w] per image -> features [N / merge^2, outHiddenSize], one row per
 * merged unit in the same order. With `recompute` (gradient checkpointing), under a tape each block keeps
 * only its input and runs again in the backward. The caller owns the result.
 */
export function visionForward(
  gpu: Gpu,
  config: ModelConfig | VisionConfig,
  weights: VisionWeights,
  pixelValues: Tensor,
  grids: readonly ImageGrid[],
  { recompute = false }: { recompute?: boolean } = {},
): Tensor {
  const v = 'vision' in config ? config.vision : config;
  const layout = visionLayout(v, grids);
  const N = layout.patches;
  if (pixelValues.shape.length !== 2 || pixelValues.shape[0] !== N || pixelValues.shape[1] !== v.patchDim)
    throw new VisionInputError(
      `pixel_values [${pixelValues.shape}] must be [${N}, ${v.patchDim}] for grids ${JSON.stringify(grids)}; pass the processor's pixel_values with its image_grid_thw`,
    );
  const get = weightGetter(weights);
  const unit = v.spatialMergeSize * v.spatialMergeSize;

  return gpu.scope(() => {
    // Windowed towers run in window order: permute the input rows (the patch embedding is row-wise) and
    // the RoPE rows alike, and restore the order on the merged rows at the end.
    const order = layout.windowUnits ? windowPatchOrder(layout.windowUnits, unit) : null;
    let rows = layout.rows;
    let cols = layout.cols;
    let pixels = pixelValues;
    if (order) {
      rows = order.map((p) => layout.rows[p]!);
      cols = order.map((p) => layout.cols[p]!);
      pixels = embedding(gpu, pixelValues, order);
    }
    const rope = ropeTable(gpu, visionRopeAngles(rows, cols, v.headDim, v.ropeTheta), v.headDim);
    // Conv3d with kernel = stride = its whole input is a matmul by the flattened kernel [E, patchDim].
    const patchW = get('patch_embed.proj.weight');
    let x = linear(gpu, pixels, reshape(gpu, patchW, [v.hiddenSize, v.patchDim]));

    const full = new Set(v.fullattBlockIndexes);
    for (let i = 0; i < v.depth; i++) {
      const cu = layout.windowCuSeqlens && !full.has(i) ? layout.windowCuSeqlens : layout.cuSeqlens;
      const prev = x;
      const run = ([h, table]: Tensor[]) => block(gpu, v, h!, get, i, table!, cu);
      x = gpu.scope(() => (recompute ? checkpoint(gpu, run, [prev, rope]) : run([prev, rope])));
      prev.dispose();
    }

    const merged = reshape(gpu, norm(gpu, v, x, get, 'merger.ln_q'), [N / unit, v.mergerHiddenSize]);
    const hidden = gelu(
      gpu,
      linear(gpu, merged, get('merger.mlp.0.weight'), get('merger.mlp.0.bias')),
      'exact',
    );
    const out = linear(gpu, hidden, get('merger.mlp.2.weight'), get('merger.mlp.2.bias'));
    if (!layout.windowUnits) return out;
    return embedding(gpu, out, invertPermutation(layout.windowUnits));
  });
}

/**
 * Random f32 vision weights of the shapes `parameterShapes` gives (`visual.*` names), for tests: linear
 * weights uniform in +-1/sqrt(fan_in), biases +-0.1, norm weights 1 +- 0.1 and norm biases +-0.1.
 */
export function randomVisionWeights(gpu: Gpu, config: ModelConfig, seed: number): Map<string, Tensor> {
  const uniform = uniformStream(seed);
  const next = () => uniform() * 2 - 1;
  const out = new Map<string, Tensor>();
  for (const [name, shape] of Object.entries(parameterShapes(config, 'legacy'))) {
    if (!name.startsWith('visual.')) continue;
    const n = shape.reduce((a, d) => a * d, 1);
    const data = new Float32Array(n);
    const isNorm = /norm\d?\.|ln_q\./.test(name);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    for (let i = 0; i < n; i++) {
      const r = next();
      if (isNorm) data[i] = name.endsWith('.weight') ? 1 + 0.1 * r : 0.1 * r;
      else if (name.endsWith('.bias')) data[i] = 0.1 * r;
      else data[i] = r / Math.sqrt(fanIn);
    }
    out.set(name, gpu.tensor(data, shape));
  }
  return out;
}
