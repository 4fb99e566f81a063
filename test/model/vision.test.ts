// The vision tower + merger on the GPU against a float64 reference written from transformers'
// definitions (test/reference/qwen2-vision.ts): a tiny Qwen2-VL (LayerNorm, QuickGELU, block-diagonal
// attention over two images) and a tiny Qwen2.5-VL (RMSNorm, SwiGLU, window attention with one
// full-attention block, images spanning several windows, a two-frame image), forward and gradients.
import { describe, expect, it } from 'vitest';
import { markTrainable, noGrad, Tape } from '../../src/gpu/autograd.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { type ModelConfig, parseModelConfig } from '../../src/model/config.ts';
import { VisionInputError } from '../../src/model/errors.ts';
import { randomVisionWeights, visionForward } from '../../src/model/vision.ts';
import { type ImageGrid, visionLayout } from '../../src/model/vision-layout.ts';
import { expectClose, randomArray, setupGpu } from '../helpers.ts';
import { backward, leaf, V } from '../reference/f64grad.ts';
import {
  cuSeqlensRef,
  patchPositionsRef,
  type VisionRefConfig,
  visionForwardRef,
  windowIndexRef,
} from '../reference/qwen2-vision.ts';

const gpu = setupGpu();

const TEXT = {
  hidden_size: 24,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 32,
  vocab_size: 200000,
  rope_scaling: { type: 'mrope', mrope_section: [2, 2, 2] },
};

const QWEN2: ModelConfig = parseModelConfig({
  model_type: 'qwen2_vl',
  ...TEXT,
  vision_config: { depth: 2, embed_dim: 32, num_heads: 2, mlp_ratio: 2, hidden_size: 24 },
});

const QWEN25: ModelConfig = parseModelConfig({
  model_type: 'qwen2_5_vl',
  ...TEXT,
  vision_config: {
    depth: 3,
    hidden_size: 32,
    intermediate_size: 40,
    num_heads: 2,
    out_hidden_size: 24,
    window_size: 112,
    fullatt_block_indexes: [1],
  },
});

function refConfig(c: ModelConfig, fullatt?: number[]): VisionRefConfig {
  const v = c.vision;
  return {
    kind: c.modelType,
    embed: v.hiddenSize,
    heads: v.numHeads,
    depth: v.depth,
    patchDim: 1176,
    outHidden: 24,
    windowSize: 112,
    patchSize: 14,
    fullatt: fullatt ?? v.fullattBlockIndexes,
  };
}

async function hostWeights(w: Map<string, Tensor>): Promise<Map<string, V>> {
  const out = new Map<string, V>();
  for (const [name, t] of w) out.set(name.slice('visual.'.length), leaf(await gpu().read(t), [...t.shape]));
  return out;
}

function refParams(host: Map<string, V>): (name: string) => V {
  return (name) => {
    const v = host.get(name);
    if (!v) throw new Error(`reference: no weight ${name}`);
    return v;
  };
}

function patchCount(grids: ImageGrid[]): number {
  return grids.reduce((a, [t, h, w]) => a + t! * h! * w!, 0);
}

async function compareForward(config: ModelConfig, grids: ImageGrid[], seed: number) {
  const g = gpu();
  const weights = randomVisionWeights(g, config, seed);
  const N = patchCount(grids);
  const pixels = randomArray(N * 1176, seed + 1);
  const px = g.tensor(pixels, [N, 1176]);
  const out = visionForward(g, config, weights, px, grids);
  expect(out.shape).toEqual([N / 4, 24]);
  const got = await g.read(out);
  const host = await hostWeights(weights);
  const ref = visionForwardRef(refConfig(config), refParams(host), leaf(pixels, [N, 1176]), grids);
  expectClose(got, ref.data, { rtol: 1e-4, atol: 1e-5 });
  for (const t of [out, px, ...weights.values()]) t.dispose();
  return { got, ref, host, pixels };
}

async function compareGradients(config: ModelConfig, grids: ImageGrid[], seedBase: number, names: string[]) {
  const g = gpu();
  const N = patchCount(grids);
  const weights = randomVisionWeights(g, config, seedBase);
  for (const t of weights.values()) markTrainable(t);
  const pixels = randomArray(N * 1176, seedBase + 1);
  const px = g.tensor(pixels, [N, 1176]);
  const seedData = randomArray((N / 4) * 24, seedBase + 2);
  const seed = g.tensor(seedData, [N / 4, 24]);
  const live = g.pool.snapshot().liveBytes;
  const tape = new Tape(g);
  const out = tape.run(() => visionForward(g, config, weights, px, grids));
  expect(tape.size).toBeGreaterThan(0);
  const grads = tape.backward(out, seed);

  const host = await hostWeights(weights);
  const ref = visionForwardRef(refConfig(config), refParams(host), leaf(pixels, [N, 1176]), grids);
  // loss = sum(ref * seed): its gradient with respect to ref is the seed.
  const loss = new V(Float64Array.of(0), [1], [ref], (self) => {
    for (let i = 0; i < ref.size; i++) ref.grad[i]! += self.grad[0]! * seedData[i]!;
  });
  backward(loss);
  for (const name of names) {
    const grad = grads.get(weights.get(`visual.${name}`)!);
    expect(grad, name).toBeDefined();
    const r = host.get(name)!.grad;
    const scale = r.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    expect(scale, name).toBeGreaterThan(0);
    expectClose(await g.read(grad!), r, { rtol: 1e-3, atol: 1e-4 * scale });
  }
  for (const t of grads.values()) t.dispose();
  tape.dispose();
  out.dispose();
  // Nothing of the forward or backward outlives the tape and the result.
  expect(g.pool.snapshot().liveBytes).toBe(live);

  const tape2 = new Tape(g);
  const out2 = tape2.run(() => noGrad(g, () => visionForward(g, config, weights, px, grids)));
  expect(tape2.size).toBe(0);
  expectClose(await g.read(out2), ref.data, { rtol: 1e-4, atol: 1e-5 });
  tape2.dispose();
  out2.dispose();
  expect(g.pool.snapshot().liveBytes).toBe(live);
  for (const t of [px, seed, ...weights.values()]) t.dispose();
}

describe('vision layout', () => {
  it('matches rot_pos_emb positions and cu_seqlens', () => {
    const grids: ImageGrid[] = [
      [1, 4, 6],
      [2, 6, 2],
    ];
    const layout = visionLayout(QWEN2.vision, grids);
    const ref = patchPositionsRef(grids);
    expect(Array.from(layout.rows)).toEqual(ref.h);
    expect(Array.from(layout.cols)).toEqual(ref.w);
    expect(layout.cuSeqlens).toEqual(cuSeqlensRef(grids));
    expect(layout.windowUnits).toBeNull();
  });

  it('matches get_window_index, with partial windows, several frames and exact multiples', () => {
    const grids: ImageGrid[] = [
      [1, 16, 8],
      [2, 6, 10],
      [1, 16, 18],
    ];
    const layout = visionLayout(QWEN25.vision, grids);
    const ref = windowIndexRef(grids, 112, 14);
    expect(Array.from(layout.windowUnits!)).toEqual(ref.index);
    expect(layout.windowCuSeqlens).toEqual(ref.cu);
    // [1, 16, 8] is two 4x4-unit windows stacked; the second starts at unit row 4 (unit 16).
    expect(ref.cu.slice(0, 3)).toEqual([0, 64, 128]);
    expect(ref.index.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(ref.index.slice(16, 17)).toEqual([16]);
  });

  it('rejects grids that are not whole merge blocks and mismatched pixel rows', () => {
    expect(() => visionLayout(QWEN2.vision, [[1, 3, 4]])).toThrow(VisionInputError);
    const g = gpu();
    const px = g.zeros([8, 1176]);
    const w = new Map<string, Tensor>();
    expect(() => visionForward(g, QWEN2, w, px, [[1, 4, 4]])).toThrow(VisionInputError);
    px.dispose();
  });
});

describe('Qwen2-VL vision tower', () => {
  it('one image [1, 4, 6] matches the float64 reference', async () => {
    await compareForward(QWEN2, [[1, 4, 6]], 11);
  });

  it('two images of different grids attend block-diagonally', async () => {
    const grids: ImageGrid[] = [
      [1, 4, 6],
      [1, 2, 4],
    ];
    const { got, host, pixels } = await compareForward(QWEN2, grids, 21);
    // The first image alone gives the same rows: no attention crosses images.
    const n0 = 24;
    const alone = visionForwardRef(
      refConfig(QWEN2),
      refParams(host),
      leaf(pixels.subarray(0, n0 * 1176), [n0, 1176]),
      [[1, 4, 6]],
    );
    expectClose(got.subarray(0, (n0 / 4) * 24), alone.data, { rtol: 1e-4, atol: 1e-5 });
  });

  it('gradients match the reference, and noGrad records nothing', async () => {
    await compareGradients(
      QWEN2,
      [
        [1, 4, 6],
        [1, 2, 4],
      ],
      31,
      [
        'patch_embed.proj.weight',
        'blocks.0.norm1.weight',
        'blocks.0.norm1.bias',
        'blocks.0.attn.qkv.weight',
        'blocks.1.attn.qkv.bias',
        'blocks.1.mlp.fc1.weight',
        'merger.ln_q.weight',
        'merger.mlp.0.weight',
        'merger.mlp.2.bias',
      ],
    );
  });
});

describe('Qwen2.5-VL vision tower (window attention)', () => {
  it('an image spanning two windows [1, 16, 8] matches the reference, and windows matter', async () => {
    const grids: ImageGrid[] = [[1, 16, 8]];
    const { got, host, pixels } = await compareForward(QWEN25, grids, 41);
    // With every block attending fully the result differs: the windows (and their order) are in effect.
    const allFull = visionForwardRef(
      refConfig(QWEN25, [0, 1, 2]),
      refParams(host),
      leaf(pixels, [128, 1176]),
      grids,
    );
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - allFull.data[i]!));
    expect(diff).toBeGreaterThan(1e-2);
  });

  it('side-by-side windows [1, 8, 16] reorder the tokens, and the order is restored after the merger', async () => {
    const grids: ImageGrid[] = [[1, 8, 16]];
    // Window order differs from the processor's order here: units 0-3 are followed by unit 8.
    const units = visionLayout(QWEN25.vision, grids).windowUnits!;
    expect(Array.from(units.slice(0, 6))).toEqual([0, 1, 2, 3, 8, 9]);
    const { got, ref } = await compareForward(QWEN25, grids, 61);
    // Left in window order, the rows would not match: row 4 is unit 8 there.
    const D = 24;
    let diff = 0;
    for (let i = 0; i < D; i++) diff = Math.max(diff, Math.abs(got[4 * D + i]! - ref.data[8 * D + i]!));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('two images with partial windows and a two-frame image match the reference', async () => {
    await compareForward(
      QWEN25,
      [
        [1, 16, 8],
        [2, 6, 10],
      ],
      51,
    );
  });

  it('gradients flow through windows, the full-attention block and the order restoration', async () => {
    await compareGradients(QWEN25, [[1, 8, 16]], 71, [
      'patch_embed.proj.weight',
      'blocks.0.norm1.weight',
      'blocks.0.attn.qkv.weight',
      'blocks.1.attn.proj.weight',
      'blocks.2.mlp.gate_proj.weight',
      'blocks.2.mlp.up_proj.bias',
      'blocks.2.mlp.down_proj.weight',
      'merger.ln_q.weight',
      'merger.mlp.0.bias',
    ]);
  });
});
