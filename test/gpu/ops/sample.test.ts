// sample: greedy against a CPU argmax, reproducibility of the counter-based draws, and the empirical
// distribution of many draws against HF's temperature -> top-k -> top-p distribution in float64.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../../src/gpu/context.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { type SampleOptions, sample } from '../../../src/gpu/ops/sample.ts';
import { randomArray, setupGpu } from '../../helpers.ts';
import { argmaxRef, samplingRef } from '../../reference/sample.ts';

const gpu = setupGpu();

async function draw(g: Gpu, logits: Float32Array, rows: number, opts: SampleOptions): Promise<Int32Array> {
  const ids = g.scope(() => sample(g, g.tensor(logits, [rows, logits.length / rows]), opts));
  const out = (await g.read(ids)) as Int32Array;
  ids.dispose();
  return out;
}

function tile(row: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(row.length * rows);
  for (let r = 0; r < rows; r++) out.set(row, r * row.length);
  return out;
}

/**
 * Draws `rows x steps` samples of one logits row and checks every token's count against the reference
 * probability: within 5 binomial standard deviations (+2 counts for near-zero probabilities), and
 * exactly zero for removed tokens.
 */
async function checkDistribution(
  row: Float32Array,
  opts: Omit<SampleOptions, 'step'>,
  rows = 1000,
  steps = 20,
) {
  const g = gpu();
  const { probs, topPMargin } = samplingRef(row, opts);
  expect(topPMargin).toBeGreaterThan(1e-3);
  const counts = new Float64Array(row.length);
  const logits = tile(row, rows);
  const t = g.tensor(logits, [rows, row.length]);
  const outs = [];
  for (let step = 0; step < steps; step++) outs.push(sample(g, t, { ...opts, step }));
  for (const o of outs) {
    for (const id of (await g.read(o)) as Int32Array) counts[id]!++;
    o.dispose();
  }
  t.dispose();
  const n = rows * steps;
  for (let i = 0; i < row.length; i++) {
    const p = probs[i]!;
    if (p === 0) {
      expect(counts[i], `token ${i} is outside the kept set`).toBe(0);
      continue;
    }
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(
      Math.abs(counts[i]! - n * p),
      `token ${i}: ${counts[i]} draws, expected ${n * p}`,
    ).toBeLessThanOrEqual(5 * sigma + 2);
  }
  return probs;
}

describe('sample', () => {
  it('greedy equals a CPU argmax, lowest index on ties (odd shapes)', async () => {
    for (const [rows, V] of [
      [1, 1],
      [7, 5],
      [3, 129],
      [5, 3001],
    ] as const) {
      const x = randomArray(rows * V, V, 3);
      // Ties for the maximum in row 0 at two places.
      if (V > 4) {
        x[1] = 10;
        x[V - 2] = 10;
      }
      const ids = await draw(gpu(), x, rows, { temperature: 0, seed: 1 });
      const ref = Array.from({ length: rows }, (_, r) => argmaxRef(x, r * V, V));
      expect(Array.from(ids)).toEqual(ref);
      // topK 1 is greedy too, whatever the temperature.
      const k1 = await draw(gpu(), x, rows, { temperature: 1.5, topK: 1, seed: 2 });
      expect(Array.from(k1)).toEqual(ref);
    }
  });

  it('a tiny topP keeps only the argmax; V = 1 always gives token 0', async () => {
    const x = randomArray(9 * 50, 3, 2);
    const ids = await draw(gpu(), x, 9, { temperature: 1, topP: 1e-6, seed: 3 });
    expect(Array.from(ids)).toEqual(Array.from({ length: 9 }, (_, r) => argmaxRef(x, r * 50, 50)));
    const one = await draw(gpu(), randomArray(4, 4), 4, { temperature: 1, topK: 5, topP: 0.5, seed: 4 });
    expect(Array.from(one)).toEqual([0, 0, 0, 0]);
  });

  it('is reproducible for a (seed, step, row) and changes with the step and the seed', async () => {
    const rows = 64;
    const x = tile(new Float32Array(50), rows); // uniform over 50 tokens
    const opts = { temperature: 1, seed: 1234, step: 7 };
    const a = await draw(gpu(), x, rows, opts);
    const b = await draw(gpu(), x, rows, opts);
    expect(Array.from(b)).toEqual(Array.from(a));
    // A row's draw does not depend on the batch around it.
    const first = await draw(gpu(), x.slice(0, 50 * 5), 5, opts);
    expect(Array.from(first)).toEqual(Array.from(a.slice(0, 5)));
    const sameRowsDiffer = (u: Int32Array, v: Int32Array) => u.filter((id, i) => id !== v[i]).length;
    const c = await draw(gpu(), x, rows, { ...opts, step: 8 });
    const d = await draw(gpu(), x, rows, { ...opts, seed: 1235 });
    // Independent uniform draws over 50 tokens agree on a row with probability 1/50.
    expect(sameRowsDiffer(a, c)).toBeGreaterThan(rows / 2);
    expect(sameRowsDiffer(a, d)).toBeGreaterThan(rows / 2);
    // Rows of one draw are not all the same token.
    expect(new Set(a).size).toBeGreaterThan(10);
  });

  it('matches softmax(logits / T) at temperatures 0.5, 1 and 2', async () => {
    const row = randomArray(23, 5, 2);
    for (const temperature of [0.5, 1, 2]) await checkDistribution(row, { temperature, seed: 11 });
    // topK >= V and topP = 1 filter nothing.
    await checkDistribution(row, { temperature: 1, topK: 23, topP: 1, seed: 18 });
  });

  it('matches HF top-k, top-p and top-k then top-p', async () => {
    const row = randomArray(37, 6, 2.5);
    const k = await checkDistribution(row, { temperature: 1, topK: 9, seed: 12 });
    expect(k.filter((p) => p > 0).length).toBe(9);
    const p = await checkDistribution(row, { temperature: 0.7, topP: 0.8, seed: 13 });
    expect(p.filter((q) => q > 0).length).toBeLessThan(37);
    await checkDistribution(row, { temperature: 2, topK: 20, topP: 0.6, seed: 14 });
  });

  it('handles large logits (1e4) and -inf (masked) tokens', async () => {
    const row = randomArray(16, 7, 1.5).map((v) => v + 1e4);
    await checkDistribution(row, { temperature: 0.5, seed: 15 });
    const masked = randomArray(16, 8, 1.5).map((v, i) => (i % 3 === 0 ? Number.NEGATIVE_INFINITY : -1e4 + v));
    await checkDistribution(masked, { temperature: 1, topK: 12, topP: 0.95, seed: 16 });
  });

  it('samples a 151936-token row (greedy, and top-k / top-p draws inside the kept set)', async () => {
    const V = 151936;
    const x = randomArray(V, 9, 8);
    x[V - 3] = 9; // the maximum near the end of the row
    expect(Array.from(await draw(gpu(), x, 1, { temperature: 0, seed: 1 }))).toEqual([V - 3]);
    const rows = 4;
    const xs = tile(x, rows);
    const opts = { temperature: 1, topK: 50, topP: 0.9, seed: 17 };
    const { probs } = samplingRef(x, opts);
    for (const step of [0, 1]) {
      for (const id of await draw(gpu(), xs, rows, { ...opts, step })) expect(probs[id]).toBeGreaterThan(0);
    }
  });

  it('rejects bad shapes and options', () => {
    const g = gpu();
    g.scope(() => {
      expect(() => sample(g, g.zeros([3]), { temperature: 1, seed: 0 })).toThrow(ShapeError);
      expect(() => sample(g, g.zeros([2, 3], 'i32'), { temperature: 1, seed: 0 })).toThrow(ShapeError);
      expect(() => sample(g, g.zeros([2, 3]), { temperature: -1, seed: 0 })).toThrow(RangeError);
      expect(() => sample(g, g.zeros([2, 3]), { temperature: 1, topP: 1.5, seed: 0 })).toThrow(RangeError);
      expect(() => sample(g, g.zeros([2, 3]), { temperature: 1, seed: -1 })).toThrow(RangeError);
    });
  });
});
