// The Qwen2 decoder forward on the GPU against an independent float64 reference (test/reference/
// qwen2-decoder.ts, M-RoPE angles built there the transformers way): logits for text-only and
// image-spliced sequences, tied and untied heads, packed sequences, the nano preset; gradients of a
// weighted sum of the logits w.r.t. every weight and the image features against the reference's
// autodiff and, on sampled elements, its central finite differences.
import { describe, expect, it } from 'vitest';
import { markTrainable, noGrad, Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { linear } from '../../src/gpu/ops/linear.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { decoderForward, type LinearFn } from '../../src/model/decoder.ts';
import { DecoderInputError, TensorMismatchError } from '../../src/model/errors.ts';
import { checkWeights, disposeWeights, randomWeights, type Weights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';
import {
  type RefDecoderInput,
  refDecoderForward,
  refMropeAngles,
  weightedSum,
} from '../reference/qwen2-decoder.ts';
import { nanoConfig, tinyConfig } from './test-configs.ts';
import { decoderRefConfig } from './vl-reference.ts';

const gpu = setupGpu();

interface Sequence {
  ids: Int32Array;
  positions: [Int32Array, Int32Array, Int32Array];
  /** Image-pad count. */
  pads: number;
}

/**
 * Text, then <vision_start>, a gridH x gridW (merged) image, <vision_end>, text; position ids written
 * out by the get_rope_index rule: text t = h = w = index; the image at offset s gets (s, s + row,
 * s + col); text after it resumes at max + 1.
 */
function withImage(
  c: ModelConfig,
  before: number[],
  gridH: number,
  gridW: number,
  after: number[],
): Sequence {
  const ids: number[] = [];
  const rows: [number[], number[], number[]] = [[], [], []];
  const text = (id: number) => {
    const p = rows[0].length === 0 ? 0 : Math.max(...rows.map((r) => r.at(-1)!)) + 1;
    ids.push(id);
    for (const r of rows) r.push(p);
  };
  for (const id of before) text(id);
  text(c.tokens.visionStartTokenId);
  const s = rows[0].at(-1)! + 1;
  for (let r = 0; r < gridH; r++)
    for (let col = 0; col < gridW; col++) {
      ids.push(c.tokens.imageTokenId);
      rows[0].push(s);
      rows[1].push(s + r);
      rows[2].push(s + col);
    }
  text(c.tokens.visionEndTokenId);
  for (const id of after) text(id);
  return {
    ids: Int32Array.from(ids),
    positions: [Int32Array.from(rows[0]), Int32Array.from(rows[1]), Int32Array.from(rows[2])],
    pads: gridH * gridW,
  };
}

function textOnly(ids: number[]): Sequence {
  const pos = Int32Array.from(ids, (_, i) => i);
  return { ids: Int32Array.from(ids), positions: [pos, pos.slice(), pos.slice()], pads: 0 };
}

async function refWeights(g: Gpu, w: Weights): Promise<Record<string, R.V>> {
  const out: Record<string, R.V> = {};
  for (const [name, t] of w) out[name] = R.leaf(await g.read(t), [...t.shape]);
  return out;
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);

async function compareLogits(
  g: Gpu,
  config: ModelConfig,
  seq: Sequence,
  seed: number,
  tol = 1e-4,
  cuSeqlens?: number[],
): Promise<void> {
  const w = randomWeights(g, config, seed, { parts: 'decoder' });
  const feats = seq.pads ? randomArray(seq.pads * config.text.hiddenSize, seed + 1) : undefined;
  const featT = feats ? g.tensor(feats, [seq.pads, config.text.hiddenSize]) : undefined;
  const logits = decoderForward(g, config, w, {
    inputIds: seq.ids,
    positions: seq.positions,
    imageFeatures: featT,
    cuSeqlens,
  });
  expect(logits.shape).toEqual([seq.ids.length, config.text.vocabSize]);
  const got = await g.read(logits);

  const rw = await refWeights(g, w);
  const cfg = decoderRefConfig(config);
  const bounds = cuSeqlens ?? [0, seq.ids.length];
  const want: number[] = [];
  for (let b = 0; b + 1 < bounds.length; b++) {
    const [a, e] = [bounds[b]!, bounds[b + 1]!];
    const input: RefDecoderInput = {
      ids: seq.ids.slice(a, e),
      positions: [seq.positions[0].slice(a, e), seq.positions[1].slice(a, e), seq.positions[2].slice(a, e)],
      features: feats ? R.leaf(feats, [seq.pads, config.text.hiddenSize]) : undefined,
    };
    want.push(...refDecoderForward(cfg, rw, input).data);
  }
  expectClose(got, want, { rtol: 0, atol: tol * maxAbs(want) });
  // The logits are not trivially small or constant.
  expect(maxAbs(want)).toBeGreaterThan(0.5);
  logits.dispose();
  featT?.dispose();
  disposeWeights(w);
}

describe('M-RoPE angles of the reference', () => {
  it('follow the section rule: slot groups read t, h, w rows; rotate-half halves share angles', () => {
    const pos: [number[], number[], number[]] = [[3], [5], [7]];
    const a = refMropeAngles(pos, 8, 100, [1, 1, 2]);
    const inv = [0, 1, 2, 3].map((j) => 100 ** (-(2 * j) / 8));
    expect(Array.from(a)).toEqual([3 * inv[0]!, 5 * inv[1]!, 7 * inv[2]!, 7 * inv[3]!]);
  });
});

describe('decoder forward against the float64 reference', () => {
  it('tiny config, tied head, text only', async () => {
    await compareLogits(gpu(), tinyConfig(true), textOnly([1, 7, 3, 3, 12, 40, 2, 9, 0, 31, 5]), 10);
  });

  it('tiny config, tied head, image features spliced at the pads (h, w differ from t)', async () => {
    const c = tinyConfig(true);
    await compareLogits(gpu(), c, withImage(c, [1, 5], 2, 3, [7, 9, 12]), 11);
  });

  it('tiny config, untied head, image features spliced', async () => {
    const c = tinyConfig(false);
    await compareLogits(gpu(), c, withImage(c, [4], 3, 2, [8, 1]), 12);
  });

  it('tiny config, two packed sequences attend only inside their own (cuSeqlens)', async () => {
    const c = tinyConfig(true);
    const a = textOnly([1, 2, 3, 4, 5]);
    const b = textOnly([9, 8, 7, 6, 5, 4, 3]);
    const packed: Sequence = {
      ids: Int32Array.from([...a.ids, ...b.ids]),
      positions: [0, 1, 2].map((i) =>
        Int32Array.from([...a.positions[i]!, ...b.positions[i]!]),
      ) as Sequence['positions'],
      pads: 0,
    };
    await compareLogits(gpu(), c, packed, 13, 1e-4, [0, 5, 12]);
  });

  it('the nano preset with random weights, with an image', async () => {
    const c = nanoConfig();
    const r = rng(5);
    const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
    await compareLogits(gpu(), c, withImage(c, text(6), 2, 4, text(9)), 14, 2e-4);
  });
});

describe('decoder gradients', () => {
  for (const tied of [true, false]) {
    it(`match the reference autodiff and finite differences (${tied ? 'tied' : 'untied'} head)`, async () => {
      const g = gpu();
      const c = tinyConfig(tied);
      const seq = withImage(c, [3, 14], 2, 2, [6, 21, 2]);
      const H = c.text.hiddenSize;
      const w = randomWeights(g, c, 20 + Number(tied), { parts: 'decoder' });
      for (const t of w.values()) markTrainable(t);
      const feats = randomArray(seq.pads * H, 30);
      const featT = markTrainable(g.tensor(feats, [seq.pads, H]));
      const upstream = randomArray(seq.ids.length * c.text.vocabSize, 31);

      const tape = new Tape(g);
      const logits = tape.run(() =>
        decoderForward(g, c, w, { inputIds: seq.ids, positions: seq.positions, imageFeatures: featT }),
      );
      const seedT = g.tensor(upstream, logits.shape);
      const grads = tape.backward(logits, seedT);

      const rw = await refWeights(g, w);
      const rf = R.leaf(feats, [seq.pads, H]);
      const cfg = decoderRefConfig(c);
      const input = { ids: seq.ids, positions: seq.positions, features: rf };
      const loss = () => weightedSum(refDecoderForward(cfg, rw, input), upstream);
      R.backward(loss());

      const all: [string, Tensor, R.V][] = [...w].map(([n, t]) => [n, t, rw[n]!]);
      all.push(['image features', featT, rf]);
      const pick = rng(40);
      for (const [name, t, ref] of all) {
        const gt = grads.get(t);
        expect(gt, `${name} has a gradient`).toBeDefined();
        const got = await g.read(gt!);
        const scale = maxAbs(ref.grad);
        expectClose(got, ref.grad, { rtol: 0, atol: 2e-3 * scale });
        // Finite differences of the reference on a few elements of some tensors.
        if (
          !/q_proj.weight|k_proj.bias|layers.1.mlp.down_proj|input_layernorm|^model.norm|embed|lm_head|image/.test(
            name,
          )
        )
          continue;
        for (let n = 0; n < 3; n++) {
          const i = Math.floor(pick() * ref.size);
          const orig = ref.data[i]!;
          const h = 1e-5;
          ref.data[i] = orig + h;
          const up = loss().data[0]!;
          ref.data[i] = orig - h;
          const down = loss().data[0]!;
          ref.data[i] = orig;
          const fd = (up - down) / (2 * h);
          expect(Math.abs(fd - ref.grad[i]!), `${name}[${i}] reference vs fd`).toBeLessThan(
            1e-6 * scale + 1e-7,
          );
          expect(Math.abs(fd - got[i]!), `${name}[${i}] gpu vs fd`).toBeLessThan(2e-3 * scale);
        }
      }
      for (const t of grads.values()) t.dispose();
      tape.dispose();
      for (const t of [logits, seedT, featT]) t.dispose();
      disposeWeights(w);
    });
  }
});

describe('decoder plumbing', () => {
  it('records nothing under noGrad and gives the same logits', async () => {
    const g = gpu();
    const c = tinyConfig(true);
    const seq = textOnly([1, 2, 3, 4]);
    const w = randomWeights(g, c, 50, { parts: 'decoder' });
    for (const t of w.values()) markTrainable(t);
    const input = { inputIds: seq.ids, positions: seq.positions };
    const tape = new Tape(g);
    const quiet = tape.run(() => noGrad(g, () => decoderForward(g, c, w, input)));
    expect(tape.size).toBe(0);
    const loud = tape.run(() => decoderForward(g, c, w, input));
    expect(tape.size).toBeGreaterThan(0);
    expect(Array.from(await g.read(quiet))).toEqual(Array.from(await g.read(loud)));
    tape.dispose();
    quiet.dispose();
    loud.dispose();
    disposeWeights(w);
  });

  it('routes every projection through the linear hook, by module name', async () => {
    const g = gpu();
    const c = tinyConfig(false);
    const w = randomWeights(g, c, 51, { parts: 'decoder' });
    const names: string[] = [];
    const hook: LinearFn = (gg, name, x, weight, bias) => {
      names.push(name);
      return linear(gg, x, weight, bias);
    };
    const seq = textOnly([1, 2, 3]);
    decoderForward(g, c, w, { inputIds: seq.ids, positions: seq.positions }, { linear: hook }).dispose();
    expect(names).toHaveLength(2 * 7 + 1);
    expect(names).toContain('model.layers.1.self_attn.q_proj');
    expect(names).toContain('model.layers.0.mlp.down_proj');
    expect(names.at(-1)).toBe('lm_head');
    disposeWeights(w);
  });

  it('rejects image features that do not match the pads, and weights that do not match the config', () => {
    const g = gpu();
    const c = tinyConfig(true);
    const w = randomWeights(g, c, 52, { parts: 'decoder' });
    const seq = withImage(c, [1], 2, 2, [2]);
    const feats = g.tensor(new Float32Array(3 * 32), [3, 32]);
    const run = () =>
      decoderForward(g, c, w, { inputIds: seq.ids, positions: seq.positions, imageFeatures: feats });
    expect(run).toThrow(DecoderInputError);
    expect(run).toThrow(/4 image-pad tokens.*3 image feature rows/);
    expect(() => decoderForward(g, c, w, { inputIds: seq.ids, positions: seq.positions })).toThrow(
      DecoderInputError,
    );
    feats.dispose();
    expect(() => checkWeights(c, w, (n) => n.startsWith('model.'))).not.toThrow();
    w.get('model.norm.weight')!.dispose();
    w.delete('model.norm.weight');
    expect(() => checkWeights(c, w, (n) => n.startsWith('model.'))).toThrow(TensorMismatchError);
    const text = textOnly([1, 2]);
    expect(() => decoderForward(g, c, w, { inputIds: text.ids, positions: text.positions })).toThrow(
      /model.norm.weight/,
    );
    disposeWeights(w);
  });
});
