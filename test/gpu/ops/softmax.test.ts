// Softmax over the last dimension: forward against a float64 reference on rows of length 1, 7, 129 and
// 4099, rows with huge logits (a 1e4 spread) and rows that are all equal; backward against finite
// differences (checkGradients) on small rows and against the analytic rule on 4099-long rows.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { softmax } from '../../../src/gpu/ops/softmax.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { softmaxRef } from '../../reference/activations.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

async function forward(xs: Float32Array, shape: number[]): Promise<Float32Array> {
  const g = gpu();
  const x = g.tensor(xs, shape);
  const y = softmax(g, x);
  expect(y.shape).toEqual(shape);
  const out = (await g.read(y)) as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

describe('softmax forward', () => {
  for (const [rows, cols] of [
    [3, 1],
    [5, 7],
    [4, 129],
    [3, 4099],
    [1, 300],
  ] as const) {
    it(`matches the reference on [${rows}, ${cols}]`, async () => {
      const xs = randomArray(rows * cols, rows * 1000 + cols, 8);
      const got = await forward(xs, [rows, cols]);
      expectClose(got, softmaxRef(xs, cols), { rtol: 2e-6, atol: 1e-9 });
    });
  }

  it('is stable for huge logits and exact for equal rows, batched leading dimensions', async () => {
    const cols = 131;
    const r = randomArray(cols * 4, 77);
    const xs = new Float32Array(2 * 2 * cols);
    for (let c = 0; c < cols; c++) {
      xs[c] = 1e4 * r[c]!; // spread of 1e4 around 0
      xs[cols + c] = 5e3 + 50 * r[cols + c]!; // large offset, moderate spread
      xs[2 * cols + c] = 3e4; // all equal and huge
      xs[3 * cols + c] = -2.5; // all equal
    }
    xs[17] = 1e4;
    const got = await forward(xs, [2, 2, cols]);
    const expected = softmaxRef(xs, cols);
    expectClose(got, expected, { rtol: 1e-5, atol: 1e-12 });
    expect(got[17]).toBe(1);
    for (let c = 0; c < cols; c++) {
      expect(got[2 * cols + c]).toBe(Math.fround(1 / cols));
      expect(got[3 * cols + c]).toBe(Math.fround(1 / cols));
    }
  });

  it('gives rows of length 1 a probability of exactly 1', async () => {
    expect(Array.from(await forward(Float32Array.from([-1e30, 0, 88, 1e4]), [4, 1]))).toEqual([1, 1, 1, 1]);
  });

  it('rejects empty rows', () => {
    const g = gpu();
    const x = g.tensor([], [3, 0]);
    expect(() => softmax(g, x)).toThrow(ShapeError);
    x.dispose();
  });
});

describe('softmax backward', () => {
  for (const [rows, cols] of [
    [2, 1],
    [3, 7],
    [2, 129],
  ] as const) {
    it(`gradient matches finite differences on [${rows}, ${cols}]`, async () => {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, cols, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => softmax(g, x!),
        reference: ([x]) => softmaxRef(x!, cols),
      });
    });
  }

  it('follows dx = y (dy - sum(dy y)) on rows of 4099 with huge logits', async () => {
    const g = gpu();
    const cols = 4099;
    const xs = randomArray(2 * cols, 5, 6);
    for (let c = 0; c < cols; c += 97) xs[cols + c] = 1e4 * Math.fround(Math.sin(c));
    const dy = randomArray(2 * cols, 6);
    const x = markTrainable(g.tensor(xs, [2, cols]));
    const seed = g.tensor(dy, [2, cols]);
    const tape = new Tape(g);
    const y = tape.run(() => softmax(g, x));
    const dx = tape.backward(y, seed).get(x)!;
    const yr = softmaxRef(xs, cols);
    const expected = new Float64Array(2 * cols);
    const magnitude = new Float64Array(2 * cols);
    for (let r = 0; r < 2; r++) {
      let dot = 0;
      let mag = 0;
      for (let c = 0; c < cols; c++) {
        dot += dy[r * cols + c]! * yr[r * cols + c]!;
        mag += Math.abs(dy[r * cols + c]! * yr[r * cols + c]!);
      }
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expected[i] = yr[i]! * (dy[i]! - dot);
        magnitude[i] = yr[i]! * (Math.abs(dy[i]!) + mag);
      }
    }
    expectClose(await g.read(dx), expected, { rtol: 1e-5, atol: 1e-12, magnitude });
    for (const t of [x, seed, y, dx]) t.dispose();
    tape.dispose();
  });
});
