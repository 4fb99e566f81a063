// Token log-probs, entropy and cross-entropy over logits [S, V]: forward against float64 references,
// gradients against finite differences on small vocabularies, forward on V = 4099 and V = 151936,
// large logits, temperatures, ignored rows and all-equal rows.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { crossEntropy } from '../../../src/gpu/ops/cross-entropy.ts';
import { entropy, tokenLogprobs } from '../../../src/gpu/ops/logprobs.ts';
import { expectClose, randomArray, rng, setupGpu } from '../../helpers.ts';
import { crossEntropyRef, entropyRef, tokenLogprobsRef } from '../../reference/logprobs.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

function randomTargets(rows: number, cols: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
}

async function forward(
  data: Float32Array,
  rows: number,
  cols: number,
  targets: Int32Array,
  temperature: number,
): Promise<{ lp: Float32Array; h: Float32Array; ce: Float32Array }> {
  const g = gpu();
  const x = g.tensor(data, [rows, cols]);
  const lpT = tokenLogprobs(g, x, targets, temperature);
  const hT = entropy(g, x, temperature);
  const ceT = crossEntropy(g, x, targets);
  const [lp, h, ce] = await Promise.all([g.read(lpT), g.read(hT), g.read(ceT)]);
  for (const t of [x, lpT, hT, ceT]) t.dispose();
  return { lp: lp as Float32Array, h: h as Float32Array, ce: ce as Float32Array };
}

describe('tokenLogprobs', () => {
  const cases: [number, number, number][] = [
    [3, 7, 1],
    [4, 33, 0.7],
    [2, 129, 1.3],
    [1, 1, 1],
  ];
  for (const [rows, cols, temperature] of cases) {
    it(`gradient matches finite differences (${rows}x${cols}, T=${temperature})`, async () => {
      const targets = randomTargets(rows, cols, rows + cols);
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, cols, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => tokenLogprobs(g, x!, targets, temperature),
        reference: ([x]) => tokenLogprobsRef(x!, cols, targets, temperature),
      });
    });
  }

  it('gradient on all-equal rows is (onehot - 1/V) / T', async () => {
    const targets = Int32Array.from([0, 32, 5]);
    await checkGradients(gpu(), {
      inputs: [{ data: new Float32Array(3 * 33).fill(0.25), shape: [3, 33], grad: true }],
      forward: (g, [x]) => tokenLogprobs(g, x!, targets, 0.7),
      reference: ([x]) => tokenLogprobsRef(x!, 33, targets, 0.7),
    });
  });

  it('rejects targets outside the vocabulary and a bad temperature', () => {
    const g = gpu();
    const x = g.tensor(new Float32Array(14), [2, 7]);
    expect(() => tokenLogprobs(g, x, Int32Array.from([0, 7]), 1)).toThrow(ShapeError);
    expect(() => tokenLogprobs(g, x, Int32Array.from([0, -100]), 1)).toThrow(ShapeError);
    expect(() => tokenLogprobs(g, x, Int32Array.from([0]), 1)).toThrow(ShapeError);
    expect(() => tokenLogprobs(g, x, Int32Array.from([0, 1]), 0)).toThrow(ShapeError);
    x.dispose();
  });
});

describe('entropy', () => {
  const cases: [number, number, number][] = [
    [3, 7, 1],
    [4, 33, 1.3],
    [2, 129, 0.7],
  ];
  for (const [rows, cols, temperature] of cases) {
    it(`gradient matches finite differences (${rows}x${cols}, T=${temperature})`, async () => {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, 40 + cols, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => entropy(g, x!, temperature),
        reference: ([x]) => entropyRef(x!, cols, temperature),
      });
    });
  }
});

describe('crossEntropy', () => {
  it('gradient matches finite differences, with ignored rows (default -100)', async () => {
    const targets = Int32Array.from([3, -100, 0, 32, -100]);
    await checkGradients(gpu(), {
      inputs: [{ data: randomArray(5 * 33, 7, 4), shape: [5, 33], grad: true }],
      forward: (g, [x]) => crossEntropy(g, x!, targets),
      reference: ([x]) => crossEntropyRef(x!, 33, targets),
    });
  });

  it('honours an ignore index that is a valid class', async () => {
    const targets = Int32Array.from([2, 5, 2, 0]);
    await checkGradients(gpu(), {
      inputs: [{ data: randomArray(4 * 7, 8, 2), shape: [4, 7], grad: true }],
      forward: (g, [x]) => crossEntropy(g, x!, targets, 2),
      reference: ([x]) => crossEntropyRef(x!, 7, targets, 2),
    });
  });

  it('gives ignored rows a zero loss and a zero gradient', async () => {
    const g = gpu();
    const targets = Int32Array.from([-100, 1]);
    const got = await g.read(
      g.scope(() => crossEntropy(g, g.tensor(randomArray(2 * 7, 9, 5), [2, 7]), targets)),
    );
    expect(got[0]).toBe(0);
    expect(got[1]).toBeGreaterThan(0);
  });
});

describe('forward on wide rows and edge values', () => {
  for (const temperature of [0.7, 1, 1.3]) {
    it(`V = 4099, T = ${temperature}`, async () => {
      const [rows, cols] = [5, 4099];
      const data = randomArray(rows * cols, 11, 8);
      const targets = randomTargets(rows, cols, 12);
      const { lp, h, ce } = await forward(data, rows, cols, targets, temperature);
      expectClose(lp, tokenLogprobsRef(data, cols, targets, temperature), { rtol: 1e-5, atol: 2e-5 });
      expectClose(h, entropyRef(data, cols, temperature), { rtol: 1e-5, atol: 2e-5 });
      expectClose(ce, crossEntropyRef(data, cols, targets), { rtol: 1e-5, atol: 2e-5 });
    });
  }

  it('V = 151936 (Qwen vocabulary), 3 rows', async () => {
    const [rows, cols] = [3, 151936];
    const data = randomArray(rows * cols, 13, 12);
    const targets = Int32Array.from([0, 151935, 77777]);
    const { lp, h, ce } = await forward(data, rows, cols, targets, 0.7);
    expectClose(lp, tokenLogprobsRef(data, cols, targets, 0.7), { rtol: 1e-5, atol: 5e-5 });
    expectClose(h, entropyRef(data, cols, 0.7), { rtol: 1e-5, atol: 5e-5 });
    expectClose(ce, crossEntropyRef(data, cols, targets), { rtol: 1e-5, atol: 5e-5 });
  });

  it('large logits (around 1e4, and one 1e4 outlier among small ones)', async () => {
    const [rows, cols] = [3, 257];
    const data = randomArray(rows * cols, 14, 3);
    for (let c = 0; c < cols; c++) data[c] = 1e4 + data[c]!;
    for (let c = 0; c < cols; c++) data[cols + c] = -1e4 + data[cols + c]!;
    data[2 * cols + 100] = 1e4;
    const targets = Int32Array.from([5, 200, 3]);
    const { lp, h, ce } = await forward(data, rows, cols, targets, 1);
    expectClose(lp, tokenLogprobsRef(data, cols, targets, 1), { rtol: 1e-6, atol: 2e-5 });
    expectClose(h, entropyRef(data, cols, 1), { rtol: 1e-5, atol: 2e-5 });
    expectClose(ce, crossEntropyRef(data, cols, targets), { rtol: 1e-6, atol: 2e-5 });
    // Under a temperature, z = x / T itself rounds to f32 (about 1e-3 at 1.4e4), as it does in PyTorch.
    const hot = await forward(data, rows, cols, targets, 0.7);
    expectClose(hot.lp, tokenLogprobsRef(data, cols, targets, 0.7), { rtol: 1e-6, atol: 4e-3 });
    expectClose(hot.h, entropyRef(data, cols, 0.7), { rtol: 1e-5, atol: 4e-3 });
  });

  it('all-equal rows give log-prob -log V and entropy log V', async () => {
    const [rows, cols] = [2, 4099];
    const data = new Float32Array(rows * cols).fill(-3.5);
    data.fill(1e4, cols);
    const targets = Int32Array.from([17, 4098]);
    const { lp, h, ce } = await forward(data, rows, cols, targets, 1.3);
    const logV = Math.log(cols);
    expectClose(lp, [-logV, -logV], { rtol: 1e-6, atol: 1e-5 });
    expectClose(h, [logV, logV], { rtol: 1e-6, atol: 1e-5 });
    expectClose(ce, [logV, logV], { rtol: 1e-6, atol: 1e-5 });
  });
});
