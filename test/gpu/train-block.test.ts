// End to end: a two-layer Qwen2-style decoder (embedding, RMSNorm, q/k/v with bias, RoPE, causal GQA
// attention, SwiGLU MLP, residuals, LM head) trained for 20 AdamW steps on a toy next-token task, on the
// GPU and, from the same initial weights, in float64 on the CPU with the reference autodiff. The GPU
// run must follow the float64 run: every step's loss, and the final weights.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { swiglu } from '../../src/gpu/ops/activations.ts';
import { AdamW } from '../../src/gpu/ops/adamw.ts';
import { add } from '../../src/gpu/ops/add.ts';
import { attention } from '../../src/gpu/ops/attention.ts';
import { crossEntropy } from '../../src/gpu/ops/cross-entropy.ts';
import { embedding } from '../../src/gpu/ops/embedding.ts';
import { reshape } from '../../src/gpu/ops/layout.ts';
import { linear } from '../../src/gpu/ops/linear.ts';
import { rmsNorm } from '../../src/gpu/ops/rmsnorm.ts';
import { applyRope, ropeTable } from '../../src/gpu/ops/rope.ts';
import { ropeAngles1d } from '../../src/gpu/rope-angles.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { randomArray, setupGpu } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';

const gpu = setupGpu();

const VOCAB = 11;
const HIDDEN = 16;
const HQ = 4;
const HKV = 2;
const HD = 4;
const MLP = 24;
const LAYERS = 2;
const STEPS = 20;
const LR = 1e-2;

// Toy task: continue a sequence that cycles with period 5, so the model must use attention.
const SEQ = [1, 4, 2, 7, 9, 1, 4, 2, 7, 9, 1, 4, 2];
const INPUTS = SEQ.slice(0, -1);
const TARGETS = SEQ.slice(1);
const S = INPUTS.length;

type Shapes = Record<string, number[]>;

function shapes(): Shapes {
  const s: Shapes = { embed: [VOCAB, HIDDEN], norm: [HIDDEN], head: [VOCAB, HIDDEN] };
  for (let l = 0; l < LAYERS; l++) {
    Object.assign(s, {
      [`l${l}.in_norm`]: [HIDDEN],
      [`l${l}.q`]: [HQ * HD, HIDDEN],
      [`l${l}.q_b`]: [HQ * HD],
      [`l${l}.k`]: [HKV * HD, HIDDEN],
      [`l${l}.k_b`]: [HKV * HD],
      [`l${l}.v`]: [HKV * HD, HIDDEN],
      [`l${l}.v_b`]: [HKV * HD],
      [`l${l}.o`]: [HIDDEN, HQ * HD],
      [`l${l}.post_norm`]: [HIDDEN],
      [`l${l}.gate`]: [MLP, HIDDEN],
      [`l${l}.up`]: [MLP, HIDDEN],
      [`l${l}.down`]: [HIDDEN, MLP],
    });
  }
  return s;
}

function initialWeights(): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let seed = 1;
  for (const [name, shape] of Object.entries(shapes())) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith('norm');
    out[name] = isNorm ? randomArray(n, seed++, 0.1).map((v) => 1 + v) : randomArray(n, seed++, 0.3);
  }
  return out;
}

const ANGLES = ropeAngles1d(
  INPUTS.map((_, i) => i),
  HD,
  1e4,
);

function gpuForward(g: Gpu, w: Record<string, Tensor>, table: Tensor): Tensor {
  let x = embedding(g, w.embed!, INPUTS);
  for (let l = 0; l < LAYERS; l++) {
    const p = (n: string) => w[`l${l}.${n}`]!;
    const h = rmsNorm(g, x, p('in_norm'));
    const q = applyRope(g, reshape(g, linear(g, h, p('q'), p('q_b')), [S, HQ, HD]), table);
    const k = applyRope(g, reshape(g, linear(g, h, p('k'), p('k_b')), [S, HKV, HD]), table);
    const v = reshape(g, linear(g, h, p('v'), p('v_b')), [S, HKV, HD]);
    const a = reshape(g, attention(g, q, k, v, { causal: true }), [S, HQ * HD]);
    x = add(g, x, linear(g, a, p('o')));
    const h2 = rmsNorm(g, x, p('post_norm'));
    x = add(g, x, linear(g, swiglu(g, linear(g, h2, p('gate')), linear(g, h2, p('up'))), p('down')));
  }
  return linear(g, rmsNorm(g, x, w.norm!), w.head!);
}

function refForward(w: Record<string, R.V>): R.V {
  let x = R.embed(w.embed!, INPUTS);
  for (let l = 0; l < LAYERS; l++) {
    const p = (n: string) => w[`l${l}.${n}`]!;
    const h = R.rmsNorm(x, p('in_norm'));
    const as3 = (t: R.V, heads: number) => new R.V(t.data, [S, heads, HD], [t], (self) => addGrad(t, self));
    const q = R.rope(as3(R.linear(h, p('q'), p('q_b')), HQ), ANGLES);
    const k = R.rope(as3(R.linear(h, p('k'), p('k_b')), HKV), ANGLES);
    const v = as3(R.linear(h, p('v'), p('v_b')), HKV);
    const att = R.causalAttention(q, k, v);
    const a = new R.V(att.data, [S, HQ * HD], [att], (self) => addGrad(att, self));
    x = R.add(x, R.linear(a, p('o')));
    const h2 = R.rmsNorm(x, p('post_norm'));
    x = R.add(x, R.linear(R.swiglu(R.linear(h2, p('gate')), R.linear(h2, p('up'))), p('down')));
  }
  return R.crossEntropyMean(R.linear(R.rmsNorm(x, w.norm!), w.head!), TARGETS);
}

function addGrad(into: R.V, from: R.V): void {
  for (let i = 0; i < into.size; i++) into.grad[i]! += from.grad[i]!;
}

describe('training a two-layer decoder end to end', () => {
  it(`follows a float64 CPU training run for ${STEPS} AdamW steps`, async () => {
    const init = initialWeights();
    const g = gpu();
    const w: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(shapes()))
      w[name] = markTrainable(g.tensor(init[name]!, shape));
    const ref: Record<string, R.V> = {};
    for (const [name, shape] of Object.entries(shapes())) ref[name] = R.leaf(init[name]!, shape);
    const table = ropeTable(g, ANGLES, HD);
    const opt = new AdamW();
    const refOpt = new R.AdamW64(LR);
    const meanSeed = g.tensor(new Float32Array(S).fill(1 / S), [S]);
    const gpuLosses: number[] = [];
    const refLosses: number[] = [];

    for (let step = 0; step < STEPS; step++) {
      const tape = new Tape(g);
      const losses = g.scope(() =>
        tape.run(() => crossEntropy(g, gpuForward(g, w, table), Int32Array.from(TARGETS))),
      );
      const grads = tape.backward(losses, meanSeed);
      gpuLosses.push(Array.from(await g.read(losses)).reduce((a, b) => a + b, 0) / S);
      opt.step(
        g,
        Object.values(w).map((param) => ({ param, grad: grads.get(param)! })),
        LR,
      );
      for (const t of grads.values()) t.dispose();
      losses.dispose();
      tape.dispose();

      const refParams = Object.values(ref);
      R.zeroGrads(refParams);
      const loss = refForward(ref);
      R.backward(loss);
      refLosses.push(loss.data[0]!);
      refOpt.step(refParams);
    }

    // The task is learnable: both runs make progress.
    expect(refLosses.at(-1)!).toBeLessThan(refLosses[0]! * 0.7);
    for (let s = 0; s < STEPS; s++) {
      expect(Math.abs(gpuLosses[s]! - refLosses[s]!), `loss at step ${s}`).toBeLessThan(
        2e-3 * Math.max(1, refLosses[s]!),
      );
    }
    let worst = 0;
    for (const [name, t] of Object.entries(w)) {
      const got = await g.read(t);
      const want = ref[name]!.data;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    }
    // Adam moves each weight by about LR per step; the runs must agree to a small fraction of that.
    expect(worst).toBeLessThan(2e-3);
    for (const t of [...Object.values(w), table, meanSeed]) t.dispose();
    opt.dispose();
  });
});
