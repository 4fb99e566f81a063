// Loading a Qwen-VL model from an HF-layout folder and running the full vision-language forward, against
// a float64 reference composed from test/reference/qwen2-vision.ts and qwen2-decoder.ts with position
// ids from a re-statement of transformers' get_rope_index (both in test/model/vl-reference.ts): a tiny
// Qwen2-VL (bf16, one file), a tiny Qwen2.5-VL (window attention; f32 shards, newer naming), the nano preset; f16 weights;
// the loader's typed errors; one Qwen2-VL-2B-sized decoder layer and vision block (bf16).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTrainable } from '../../src/gpu/autograd.ts';
import { ropeTable } from '../../src/gpu/ops/rope.ts';
import { visionRopeAngles } from '../../src/gpu/rope-angles.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { matchTensors, openCheckpoint } from '../../src/model/checkpoint.ts';
import { parameterShapes } from '../../src/model/config.ts';
import { decoderLayer, decoderRopeTable } from '../../src/model/decoder.ts';
import {
  CheckpointError,
  ConfigError,
  RopeIndexError,
  TensorMismatchError,
  VisionInputError,
} from '../../src/model/errors.ts';
import { loadModel, uploadTensors } from '../../src/model/load.ts';
import { modelForward } from '../../src/model/qwen-vl.ts';
import { visionBlock } from '../../src/model/vision.ts';
import { type ImageGrid, visionLayout } from '../../src/model/vision-layout.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';
import { roundToHalf } from '../reference/half.ts';
import { refMropeAngles } from '../reference/qwen2-decoder.ts';
import { visionAnglesRef } from '../reference/qwen2-vision.ts';
import { roundToBf16, type WrittenModel, writeHfModel } from './hf-folder.ts';
import { promptIds, refModelLogits, ropeIndexRef } from './vl-reference.ts';

const gpu = setupGpu();

const IDS = { vision_start_token_id: 60, vision_end_token_id: 61, image_token_id: 62, video_token_id: 63 };
const TEXT = {
  hidden_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 64,
  vocab_size: 64,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  rope_scaling: { type: 'mrope', mrope_section: [2, 2, 2] },
  ...IDS,
};

const QWEN2_JSON = {
  model_type: 'qwen2_vl',
  ...TEXT,
  tie_word_embeddings: true,
  vision_config: { depth: 2, embed_dim: 32, num_heads: 2, mlp_ratio: 2, hidden_size: 48 },
};

const QWEN25_JSON = {
  model_type: 'qwen2_5_vl',
  ...TEXT,
  tie_word_embeddings: false,
  vision_config: {
    depth: 3,
    hidden_size: 32,
    intermediate_size: 40,
    num_heads: 2,
    out_hidden_size: 48,
    window_size: 112,
    fullatt_block_indexes: [1],
  },
};

const NANO_JSON = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../public/nano/config.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>;

/** Qwen2-VL-2B-Instruct's config.json values. */
const QWEN2_2B_JSON = {
  model_type: 'qwen2_vl',
  hidden_size: 1536,
  intermediate_size: 8960,
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  vocab_size: 151936,
  tie_word_embeddings: true,
  rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
  bos_token_id: 151643,
  eos_token_id: 151645,
  vision_start_token_id: 151652,
  vision_end_token_id: 151653,
  vision_token_id: 151654,
  image_token_id: 151655,
  video_token_id: 151656,
  vision_config: {
    depth: 32,
    embed_dim: 1280,
    mlp_ratio: 4,
    num_heads: 16,
    in_chans: 3,
    hidden_size: 1536,
    patch_size: 14,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
  },
};

/** Reference logits of the full model from the stored values (`transform` maps each tensor's values). */
function refLogits(
  m: WrittenModel,
  ids: number[],
  pixels: Float32Array | undefined,
  grids: ImageGrid[],
  transform: (name: string, v: Float32Array) => ArrayLike<number> = (_, v) => v,
): Float64Array {
  const leaves: Record<string, R.V> = {};
  for (const [name, v] of m.values) leaves[name] = R.leaf(transform(name, v), m.shapes.get(name)!);
  return refModelLogits(m.config, leaves, ids, pixels, grids).data;
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);

/** Loads `m` from its folder, runs one image + text through modelForward and compares the logits. */
async function compareFull(
  m: WrittenModel,
  grid: ImageGrid,
  before: number[],
  after: number[],
  seed: number,
  options: { weightDtype?: 'f32' | 'f16'; tol?: number } = {},
): Promise<void> {
  const g = gpu();
  const live = g.pool.snapshot().liveBytes;
  const { config, weights, weightDtype } = await loadModel(g, directoryOpener(m.dir), {
    weightDtype: options.weightDtype,
  });
  expect(config).toEqual(m.config);
  const ids = promptIds(config, before, grid, after);
  const N = grid[0] * grid[1] * grid[2];
  const pixels = randomArray(N * config.vision.patchDim, seed);
  const logits = modelForward(g, config, weights, {
    inputIds: Int32Array.from(ids),
    pixelValues: pixels,
    imageGrids: [grid],
  });
  expect(logits.shape).toEqual([ids.length, config.text.vocabSize]);
  const got = await g.read(logits);
  const half = weightDtype === 'f16';
  const want = refLogits(m, ids, pixels, [grid], (name, v) =>
    half && m.shapes.get(name)!.length >= 2 ? Array.from(v, roundToHalf) : v,
  );
  expect(maxAbs(want)).toBeGreaterThan(0.3);
  expectClose(got, want, { rtol: 0, atol: (options.tol ?? 2e-4) * maxAbs(want) });
  logits.dispose();
  disposeWeights(weights);
  expect(g.pool.snapshot().liveBytes).toBe(live);
}

describe('full vision-language forward of a loaded model against the float64 reference', () => {
  it('re-stated get_rope_index gives the hand-derived positions', () => {
    // 2 text, <vs> at 2, a 1x4x6 image (2x3 merged) from index 3 at offset 3, <ve>, 1 text.
    const ids = [1, 2, 60, ...Array(6).fill(62), 61, 5];
    expect(ropeIndexRef(ids, [[1, 4, 6]], 62)).toEqual([
      [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7],
      [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7],
      [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7],
    ]);
  });

  it('tiny Qwen2-VL from a bf16 model.safetensors', async () => {
    const m = await writeHfModel(QWEN2_JSON, { seed: 1, dtype: 'BF16' });
    try {
      await compareFull(m, [1, 4, 6], [1, 7, 3], [9, 12, 40, 2], 2);
    } finally {
      await m.remove();
    }
  });

  it('tiny Qwen2.5-VL (window attention over 4 windows) from f32 shards with the newer naming', async () => {
    const m = await writeHfModel(QWEN25_JSON, { seed: 3, dtype: 'F32', shards: 3, naming: 'nested' });
    try {
      // 12x10 patches = 6x5 merged units: windows of 4x4, 4x1, 2x4 and 2x1 units.
      await compareFull(m, [1, 12, 10], [5, 6], [7, 8, 30], 4);
    } finally {
      await m.remove();
    }
  });

  it('the nano preset with a tiny image', async () => {
    const m = await writeHfModel(NANO_JSON, { seed: 5, dtype: 'BF16', shards: 2 });
    try {
      const r = rng(6);
      const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
      await compareFull(m, [1, 4, 4], text(5), text(7), 7);
    } finally {
      await m.remove();
    }
  });

  it('f16 weights: matrices stored as f16 (when the adapter has shader-f16), norms and biases f32', async () => {
    const g = gpu();
    const m = await writeHfModel(QWEN2_JSON, { seed: 8, dtype: 'F32' });
    try {
      const { weights, weightDtype } = await loadModel(g, directoryOpener(m.dir), { weightDtype: 'f16' });
      expect(weightDtype).toBe(g.hasF16 ? 'f16' : 'f32');
      for (const [name, t] of weights) {
        const matrix = m.shapes.get(name)!.length >= 2;
        expect(t.dtype, name).toBe(g.hasF16 && matrix ? 'f16' : 'f32');
        const stored = m.values.get(name)!;
        const want = g.hasF16 && matrix ? Array.from(stored, roundToHalf) : stored;
        expect(Array.from(await g.read(t)), name).toEqual(Array.from(want));
      }
      disposeWeights(weights);
      await compareFull(m, [1, 4, 4], [3, 4], [5, 6, 7], 9, { weightDtype: 'f16' });
    } finally {
      await m.remove();
    }
  });
});

describe('loadModel', () => {
  it("the helper's bf16 rounding keeps 8 significant bits, ties to even (hand-derived values)", () => {
    expect(roundToBf16(1 + 2 ** -8)).toBe(1);
    expect(roundToBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7);
    expect(roundToBf16(-Math.PI)).toBe(-3.140625);
    expect(roundToBf16(0.1)).toBe(0.10009765625);
    expect(roundToBf16(255.5)).toBe(256);
  });

  it('uploads every tensor by canonical name, bf16 values exactly, not trainable; shards and nested names', async () => {
    const g = gpu();
    const m = await writeHfModel(QWEN25_JSON, { seed: 10, dtype: 'BF16', shards: 2, naming: 'nested' });
    try {
      const { config, weights, weightDtype } = await loadModel(g, directoryOpener(m.dir));
      expect(weightDtype).toBe('f32');
      expect([...weights.keys()].sort()).toEqual(Object.keys(parameterShapes(config)).sort());
      for (const [name, t] of weights) {
        expect(t.dtype).toBe('f32');
        expect([...t.shape]).toEqual(m.shapes.get(name));
        expect(isTrainable(t)).toBe(false);
        const stored = m.values.get(name)!;
        // The written values went through the bf16 rounding written in hf-folder.ts.
        const r = rng(11);
        for (let k = 0; k < 5; k++) {
          const i = Math.floor(r() * stored.length);
          expect(stored[i]).toBe(roundToBf16(stored[i]!));
        }
        expect(Array.from(await g.read(t)), name).toEqual(Array.from(stored));
      }
      disposeWeights(weights);
    } finally {
      await m.remove();
    }
  });

  it('accepts a stored lm_head.weight of a tied model (checked, not uploaded)', async () => {
    const g = gpu();
    const m = await writeHfModel(QWEN2_JSON, { seed: 12, shapes: { 'lm_head.weight': [64, 48] } });
    const bad = await writeHfModel(QWEN2_JSON, { seed: 12, shapes: { 'lm_head.weight': [64, 47] } });
    try {
      const { weights } = await loadModel(g, directoryOpener(m.dir));
      expect(weights.has('lm_head.weight')).toBe(false);
      disposeWeights(weights);
      const err = await loadModel(g, directoryOpener(bad.dir)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TensorMismatchError);
      expect((err as TensorMismatchError).misShaped.map((x) => x.name)).toEqual(['lm_head.weight']);
    } finally {
      await m.remove();
      await bad.remove();
    }
  });

  it('throws typed errors naming what is missing or wrong', async () => {
    const g = gpu();
    const live = g.pool.snapshot().liveBytes;
    const noConfig = await writeHfModel(QWEN2_JSON, { noConfig: true });
    const noTensor = await writeHfModel(QWEN2_JSON, {
      filter: (n) => n !== 'model.layers.1.mlp.up_proj.weight',
    });
    const misShaped = await writeHfModel(QWEN2_JSON, {
      shapes: { 'visual.blocks.0.attn.qkv.weight': [96, 31] },
    });
    const badConfig = await writeHfModel(QWEN2_JSON);
    const emptyDir = await writeHfModel(QWEN2_JSON, { filter: () => false });
    try {
      const fail = async (dir: string): Promise<Error> => {
        try {
          await loadModel(g, directoryOpener(dir));
        } catch (e) {
          return e as Error;
        }
        throw new Error(`loading ${dir} should have failed`);
      };

      const e1 = await fail(noConfig.dir);
      expect(e1).toBeInstanceOf(CheckpointError);
      expect((e1 as CheckpointError).file).toBe('config.json');
      expect(e1.message).toMatch(/no config\.json/);

      const e2 = await fail(noTensor.dir);
      expect(e2).toBeInstanceOf(TensorMismatchError);
      expect((e2 as TensorMismatchError).missing).toEqual(['model.layers.1.mlp.up_proj.weight']);
      expect(e2.message).toMatch(/model\.layers\.1\.mlp\.up_proj\.weight/);

      const e3 = await fail(misShaped.dir);
      expect(e3).toBeInstanceOf(TensorMismatchError);
      expect((e3 as TensorMismatchError).misShaped).toEqual([
        { name: 'visual.blocks.0.attn.qkv.weight', expected: [96, 32], actual: [96, 31] },
      ]);

      const { rmSync, writeFileSync } = await import('node:fs');
      writeFileSync(`${badConfig.dir}/config.json`, JSON.stringify({ ...QWEN2_JSON, model_type: 'llama' }));
      expect(await fail(badConfig.dir)).toBeInstanceOf(ConfigError);

      rmSync(`${emptyDir.dir}/model.safetensors`);
      const e5 = await fail(emptyDir.dir);
      expect(e5).toBeInstanceOf(CheckpointError);
      expect(e5.message).toMatch(/model\.safetensors/);
      expect(g.pool.snapshot().liveBytes).toBe(live);
    } finally {
      for (const m of [noConfig, noTensor, misShaped, badConfig, emptyDir]) await m.remove();
    }
  });

  it('modelForward rejects images without pixels, and grids that do not fit the ids', async () => {
    const g = gpu();
    const m = await writeHfModel(QWEN2_JSON, { seed: 13, dtype: 'F32' });
    try {
      const { config, weights } = await loadModel(g, directoryOpener(m.dir));
      const ids = Int32Array.from(promptIds(config, [1], [1, 4, 4], [2]));
      const pixels = randomArray(16 * 1176, 14);
      expect(() => modelForward(g, config, weights, { inputIds: ids, imageGrids: [[1, 4, 4]] })).toThrow(
        VisionInputError,
      );
      expect(() => modelForward(g, config, weights, { inputIds: ids, pixelValues: pixels })).toThrow(
        VisionInputError,
      );
      expect(() =>
        modelForward(g, config, weights, { inputIds: ids, pixelValues: pixels, imageGrids: [[1, 4, 8]] }),
      ).toThrow(RopeIndexError);
      // Text only works without images.
      const text = modelForward(g, config, weights, { inputIds: Int32Array.of(1, 2, 3) });
      expect(text.shape).toEqual([3, 64]);
      text.dispose();
      disposeWeights(weights);
    } finally {
      await m.remove();
    }
  });
});

describe('Qwen2-VL-2B dimensions (one layer / block of random bf16 weights)', () => {
  it('a decoder layer: hidden 1536, 12 / 2 heads of 128, MLP 8960, 8 tokens with an image', async () => {
    const g = gpu();
    const prefix = 'model.layers.0.';
    const m = await writeHfModel(QWEN2_2B_JSON, { seed: 20, filter: (n) => n.startsWith(prefix) });
    const checkpoint = await openCheckpoint(directoryOpener(m.dir));
    try {
      const c = m.config;
      const expected = Object.fromEntries(
        Object.entries(parameterShapes(c)).filter(([n]) => n.startsWith(prefix)),
      );
      matchTensors(checkpoint, expected);
      const weights = await uploadTensors(g, checkpoint, Object.keys(expected));
      // 3 text tokens, a 2x2 merged image at offset 3, 1 text token.
      const ids = [11, 12, 13, c.tokens.imageTokenId, c.tokens.imageTokenId, c.tokens.imageTokenId];
      ids.push(c.tokens.imageTokenId, 14);
      const positions: [number[], number[], number[]] = [
        [0, 1, 2, 3, 3, 3, 3, 5],
        [0, 1, 2, 3, 3, 4, 4, 5],
        [0, 1, 2, 3, 4, 3, 4, 5],
      ];
      expect(ropeIndexRef(ids, [[1, 4, 4]], c.tokens.imageTokenId)).toEqual(positions);
      const S = 8;
      const H = 1536;
      const x = randomArray(S * H, 21);
      const xT = g.tensor(x, [S, H]);
      const rope = decoderRopeTable(
        g,
        c,
        positions.map((r) => Int32Array.from(r)) as [Int32Array, Int32Array, Int32Array],
      );
      const out = decoderLayer(g, c, weights, 0, xT, rope);
      const got = await g.read(out);

      const p = (n: string) => R.leaf(m.values.get(`${prefix}${n}`)!, m.shapes.get(`${prefix}${n}`)!);
      const angles = refMropeAngles(positions, 128, 1e6, [16, 24, 24]);
      const xr = R.leaf(x, [S, H]);
      const h = R.rmsNorm(xr, p('input_layernorm.weight'), 1e-6);
      const proj = (name: string, input: R.V, bias: boolean) =>
        R.linear(input, p(`${name}.weight`), bias ? p(`${name}.bias`) : undefined);
      const q = R.rope(R.reshapeV(proj('self_attn.q_proj', h, true), [S, 12, 128]), angles);
      const k = R.rope(R.reshapeV(proj('self_attn.k_proj', h, true), [S, 2, 128]), angles);
      const v = R.reshapeV(proj('self_attn.v_proj', h, true), [S, 2, 128]);
      const a = R.reshapeV(R.causalAttention(q, k, v), [S, H]);
      const x1 = R.add(xr, proj('self_attn.o_proj', a, false));
      const h2 = R.rmsNorm(x1, p('post_attention_layernorm.weight'), 1e-6);
      const mlp = proj(
        'mlp.down_proj',
        R.swiglu(proj('mlp.gate_proj', h2, false), proj('mlp.up_proj', h2, false)),
        false,
      );
      const want = R.add(x1, mlp).data;
      expectClose(got, want, { rtol: 0, atol: 1e-4 * maxAbs(want) });
      for (const t of [out, xT, rope]) t.dispose();
      disposeWeights(weights);
    } finally {
      await checkpoint.close();
      await m.remove();
    }
  });

  it('a vision block: 1280 wide, 16 heads of 80, MLP 5120, QuickGELU, over a 4x4 patch grid', async () => {
    const g = gpu();
    const prefix = 'visual.blocks.0.';
    const m = await writeHfModel(QWEN2_2B_JSON, { seed: 30, filter: (n) => n.startsWith(prefix) });
    const checkpoint = await openCheckpoint(directoryOpener(m.dir));
    try {
      const v = m.config.vision;
      expect([v.hiddenSize, v.numHeads, v.headDim, v.intermediateSize]).toEqual([1280, 16, 80, 5120]);
      const names = Object.keys(parameterShapes(m.config)).filter((n) => n.startsWith(prefix));
      const weights = await uploadTensors(g, checkpoint, names);
      const grid: ImageGrid = [1, 4, 4];
      const N = 16;
      const E = 1280;
      const layout = visionLayout(v, [grid]);
      const rope = ropeTable(g, visionRopeAngles(layout.rows, layout.cols, 80, 10000), 80);
      const x = randomArray(N * E, 31);
      const xT = g.tensor(x, [N, E]);
      const out = visionBlock(g, v, weights, 0, xT, rope, layout.cuSeqlens);
      const got = await g.read(out);

      const p = (n: string) => R.leaf(m.values.get(`${prefix}${n}`)!, m.shapes.get(`${prefix}${n}`)!);
      const angles = visionAnglesRef([grid], 80);
      const xr = R.leaf(x, [N, E]);
      const qkv = R.linear(
        R.layerNormV(xr, p('norm1.weight'), p('norm1.bias'), 1e-6),
        p('attn.qkv.weight'),
        p('attn.qkv.bias'),
      );
      const q = R.rope(R.reshapeV(R.sliceColumns(qkv, 0, E), [N, 16, 80]), angles);
      const k = R.rope(R.reshapeV(R.sliceColumns(qkv, E, 2 * E), [N, 16, 80]), angles);
      const val = R.reshapeV(R.sliceColumns(qkv, 2 * E, 3 * E), [N, 16, 80]);
      const a = R.reshapeV(R.varlenAttention(q, k, val, [0, N]), [N, E]);
      const x1 = R.add(xr, R.linear(a, p('attn.proj.weight'), p('attn.proj.bias')));
      const h2 = R.layerNormV(x1, p('norm2.weight'), p('norm2.bias'), 1e-6);
      const f = R.geluV(R.linear(h2, p('mlp.fc1.weight'), p('mlp.fc1.bias')), 'quick');
      const want = R.add(x1, R.linear(f, p('mlp.fc2.weight'), p('mlp.fc2.bias'))).data;
      expectClose(got, want, { rtol: 0, atol: 1e-4 * maxAbs(want) });
      for (const t of [out, xT, rope]) t.dispose();
      disposeWeights(weights);
    } finally {
      await checkpoint.close();
      await m.remove();
    }
  });
});
