// Gradient check of the whole nano model (public/nano/config.json, seeded random weights): one 4x4-patch
// image and a short text through modelForward (vision tower, merger, decoder), loss = mean token
// cross-entropy. Full fine-tuning: every weight's gradient against the float64 reference autodiff of
// the same composed model (test/model/vl-reference.ts), and the reference against central finite
// differences on sampled elements. LoRA (r 4, alpha 8, nonzero B): gradients reach only A and B and
// equal the chain rule through the reference's merged weights W + s B A: dA = s B^T dW, dB = s dW A^T.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { crossEntropy } from '../../src/gpu/ops/cross-entropy.ts';
import { type ModelConfig, parseModelConfig } from '../../src/model/config.ts';
import type { DecoderOptions } from '../../src/model/decoder.ts';
import { createLora, freezeWeights, trainableWeights } from '../../src/model/lora.ts';
import { type ModelInput, modelForward } from '../../src/model/qwen-vl.ts';
import type { ImageGrid } from '../../src/model/vision-layout.ts';
import { disposeWeights, randomWeights, type Weights } from '../../src/model/weights.ts';
import { randomArray, rng, setupGpu } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';
import { promptIds, refModelLogits } from './vl-reference.ts';

const gpu = setupGpu();

const CONFIG: ModelConfig = parseModelConfig(
  JSON.parse(readFileSync(fileURLToPath(new URL('../../public/nano/config.json', import.meta.url)), 'utf8')),
);
const GRID: ImageGrid = [1, 4, 4];
const r0 = rng(3);
const text = (n: number) => Array.from({ length: n }, () => Math.floor(r0() * 480));
const IDS = promptIds(CONFIG, text(4), GRID, text(6));
const S = IDS.length;
const TARGETS = Int32Array.from([...IDS.slice(1), 7]);
const PIXELS = randomArray(16 * CONFIG.vision.patchDim, 4);
const INPUT: ModelInput = { inputIds: Int32Array.from(IDS), pixelValues: PIXELS, imageGrids: [GRID] };

/**
 * Tolerances, each relative to the largest |gradient| of the tensor (sc): GPU (f32) vs reference
 * (f64) autodiff 1e-4 * sc elementwise; reference vs central differences (h = 1e-5, f64) 1e-6 * sc.
 */
const GPU_TOL = 1e-4;
const FD_TOL = 1e-6;

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Worst |got - want| over the tensor, as a fraction of the tensor's largest |want|. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst / maxAbs(want);
}

async function refLeaves(g: Gpu, w: Weights): Promise<Record<string, R.V>> {
  const out: Record<string, R.V> = {};
  for (const [name, t] of w) out[name] = R.leaf(await g.read(t), [...t.shape]);
  return out;
}

/** Mean token cross-entropy of the GPU model under a tape, backward seeded with 1/S per token. */
function gpuLossGrads(g: Gpu, w: Weights, options?: DecoderOptions) {
  const tape = new Tape(g);
  const loss = tape.run(() =>
    g.scope(() => crossEntropy(g, modelForward(g, CONFIG, w, INPUT, options), TARGETS)),
  );
  const seed = g.tensor(new Float32Array(S).fill(1 / S), loss.shape);
  const grads = tape.backward(loss, seed);
  return { tape, loss, seed, grads };
}

const refLoss = (leaves: Record<string, R.V>) =>
  R.crossEntropyMean(refModelLogits(CONFIG, leaves, IDS, PIXELS, [GRID]), TARGETS);

describe('nano model gradient check (image + text, mean cross-entropy)', () => {
  it('full fine-tuning: every weight (vision and decoder) against float64 autodiff and finite differences', async () => {
    const g = gpu();
    const w = randomWeights(g, CONFIG, 11);
    const trained = trainableWeights(w);
    expect(trained.size).toBe(w.size);
    const { tape, loss, seed, grads } = gpuLossGrads(g, w);
    expect(grads.size).toBe(w.size);

    const leaves = await refLeaves(g, w);
    const ref = refLoss(leaves);
    const gotLoss = Array.from(await g.read(loss));
    expect(Math.abs(gotLoss.reduce((a, b) => a + b, 0) / S - ref.data[0]!)).toBeLessThan(1e-4);
    R.backward(ref);

    const got = new Map<string, ArrayLike<number>>();
    let worst = 0;
    for (const [name, t] of w) {
      const gt = grads.get(t);
      expect(gt, `${name} has a gradient`).toBeDefined();
      const gg = await g.read(gt!);
      got.set(name, gg);
      const want = leaves[name]!.grad;
      expect(maxAbs(want), `${name} has a nonzero reference gradient`).toBeGreaterThan(0);
      const e = relErr(gg, want);
      worst = Math.max(worst, e);
      expect(e, name).toBeLessThan(GPU_TOL);
    }
    console.log(`full FT: worst GPU vs f64 gradient error ${worst.toExponential(2)} of the tensor's max`);

    // Central differences of the float64 reference on sampled elements.
    const pick = rng(12);
    const usedRow = IDS[1]!;
    const checks: [string, number[]][] = [
      ['visual.patch_embed.proj.weight', []],
      ['visual.blocks.1.attn.qkv.weight', []],
      ['visual.blocks.0.mlp.fc2.weight', []],
      ['visual.merger.mlp.0.weight', []],
      ['model.layers.2.self_attn.q_proj.weight', []],
      ['model.layers.0.mlp.down_proj.weight', []],
      ['model.embed_tokens.weight', [usedRow * CONFIG.text.hiddenSize + 5]],
    ];
    for (const [name, fixed] of checks) {
      const leaf = leaves[name]!;
      const sc = maxAbs(leaf.grad);
      const idx = [...fixed, ...Array.from({ length: 2 }, () => Math.floor(pick() * leaf.size))];
      for (const i of idx) {
        const orig = leaf.data[i]!;
        const h = 1e-5;
        leaf.data[i] = orig + h;
        const up = refLoss(leaves).data[0]!;
        leaf.data[i] = orig - h;
        const down = refLoss(leaves).data[0]!;
        leaf.data[i] = orig;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(fd - leaf.grad[i]!), `${name}[${i}] reference vs fd`).toBeLessThan(FD_TOL * sc);
        expect(Math.abs(fd - got.get(name)![i]!), `${name}[${i}] gpu vs fd`).toBeLessThan(GPU_TOL * sc);
      }
    }
    for (const t of grads.values()) t.dispose();
    tape.dispose();
    loss.dispose();
    seed.dispose();
    freezeWeights(w);
    disposeWeights(w);
  });

  it('LoRA r 4, alpha 8: gradients only on A and B, equal to the chain rule through merged weights', async () => {
    const g = gpu();
    const w = randomWeights(g, CONFIG, 21);
    const lora = createLora(g, CONFIG, { r: 4, alpha: 8, seed: 22 });
    let bs = 30;
    for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, bs++, 0.3));
    const s = lora.scaling;
    expect(s).toBe(2);
    const { tape, loss, seed, grads } = gpuLossGrads(g, w, { linear: lora.linear });
    expect(grads.size).toBe(2 * lora.adapters.size);
    for (const t of w.values()) expect(grads.has(t)).toBe(false);

    // Reference: the model on W_eff = W + s B A (leaves), then dA = s B^T dW_eff, dB = s dW_eff A^T.
    const leaves = await refLeaves(g, w);
    const low = new Map<string, { A: Float64Array; B: Float64Array; r: number; I: number; O: number }>();
    for (const ad of lora.adapters.values()) {
      const A = Float64Array.from(await g.read(ad.A));
      const B = Float64Array.from(await g.read(ad.B));
      const [r, I] = ad.A.shape as [number, number];
      const O = ad.B.shape[0]!;
      low.set(ad.module, { A, B, r, I, O });
    }
    const mergedLeaves = (): Record<string, R.V> => {
      const out = { ...leaves };
      for (const [module, { A, B, r, I, O }] of low) {
        const base = leaves[`${module}.weight`]!.data;
        const eff = Float64Array.from(base);
        for (let o = 0; o < O; o++)
          for (let i = 0; i < I; i++) {
            let d = 0;
            for (let k = 0; k < r; k++) d += B[o * r + k]! * A[k * I + i]!;
            eff[o * I + i]! += s * d;
          }
        out[`${module}.weight`] = R.leaf(eff, [O, I]);
      }
      return out;
    };
    const merged = mergedLeaves();
    const ref = refLoss(merged);
    R.backward(ref);
    let worst = 0;
    const pick = rng(23);
    for (const ad of lora.adapters.values()) {
      const { A, B, r, I, O } = low.get(ad.module)!;
      const dW = merged[`${ad.module}.weight`]!.grad;
      const dA = new Float64Array(r * I);
      const dB = new Float64Array(O * r);
      for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++) {
          const gw = dW[o * I + i]!;
          for (let k = 0; k < r; k++) {
            dA[k * I + i]! += s * B[o * r + k]! * gw;
            dB[o * r + k]! += s * gw * A[k * I + i]!;
          }
        }
      const gA = await g.read(grads.get(ad.A)!);
      const gB = await g.read(grads.get(ad.B)!);
      for (const [which, gg, want] of [
        ['A', gA, dA],
        ['B', gB, dB],
      ] as const) {
        expect(maxAbs(want), `${ad.module}.${which} nonzero`).toBeGreaterThan(0);
        const e = relErr(gg, want);
        worst = Math.max(worst, e);
        expect(e, `${ad.module}.${which}`).toBeLessThan(GPU_TOL);
      }
      // Central differences through the merged weights on two adapters.
      if (!/layers\.(1\.self_attn\.v_proj|3\.mlp\.gate_proj)$/.test(ad.module)) continue;
      for (const [which, arr, want] of [
        ['A', A, dA],
        ['B', B, dB],
      ] as const) {
        const i = Math.floor(pick() * arr.length);
        const orig = arr[i]!;
        const h = 1e-5;
        arr[i] = orig + h;
        const up = refLoss(mergedLeaves()).data[0]!;
        arr[i] = orig - h;
        const down = refLoss(mergedLeaves()).data[0]!;
        arr[i] = orig;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(fd - want[i]!), `${ad.module}.${which}[${i}] chain rule vs fd`).toBeLessThan(
          FD_TOL * maxAbs(want),
        );
      }
    }
    console.log(`LoRA: worst GPU vs f64 gradient error ${worst.toExponential(2)} of the tensor's max`);
    for (const t of grads.values()) t.dispose();
    tape.dispose();
    loss.dispose();
    seed.dispose();
    lora.dispose();
    disposeWeights(w);
  });
});
