// rmsNorm: forward against the float64 reference over row lengths 1, 7, 129, 1024, 1536 and row counts
// 1, 3, 130; large-magnitude and all-zero rows; f16 weights; dx and dw against finite differences (all
// elements on small shapes, sampled ones on large shapes); frozen inputs getting no gradient; the saved
// statistics outliving the scope that made them; shape errors. addRmsNorm (the residual add fused into
// the norm where nothing needs a gradient): both outputs against float64, f16 weights, gradients of the
// taped fallback against finite differences, shape errors.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { addRmsNorm, rmsNorm } from '../../../src/gpu/ops/rmsnorm.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { rmsNormRef } from '../../reference/norm.ts';
import { checkGradients } from '../gradcheck.ts';
import { checkSampledGradients } from '../norm-helpers.ts';

const gpu = setupGpu();

async function forwardCase(x: Float32Array, w: Float32Array, cols: number, eps?: number, rtol = 2e-6) {
  const g = gpu();
  const y = g.scope(() => rmsNorm(g, g.tensor(x, [x.length / cols, cols]), g.tensor(w, [cols]), eps));
  expect(y.shape).toEqual([x.length / cols, cols]);
  const ref = rmsNormRef(x, w, cols, eps);
  // Each output is a product of O(1) factors: compare relative to its own size.
  expectClose(await g.read(y), ref, { rtol, atol: 1e-6 });
  y.dispose();
}

describe('rmsNorm forward', () => {
  for (const cols of [1, 7, 129, 1024, 1536]) {
    it(`matches the reference for rows of ${cols}`, async () => {
      for (const rows of [1, 3, 130]) {
        await forwardCase(randomArray(rows * cols, rows + cols, 3), randomArray(cols, cols + 1, 2), cols);
      }
    });
  }

  it('handles large-magnitude rows, zero rows and another eps', async () => {
    const cols = 1536;
    const x = randomArray(3 * cols, 8, 1e4);
    for (let c = 0; c < cols; c++) x[cols + c] = 1e4 + x[cols + c]! * 1e-3;
    await forwardCase(x, randomArray(cols, 9), cols);
    const zeros = new Float32Array(2 * 129);
    zeros.set(randomArray(129, 10), 129);
    await forwardCase(zeros, randomArray(129, 11), 129);
    await forwardCase(randomArray(3 * 7, 12, 1e-3), randomArray(7, 13), 7, 1e-5);
  });

  it('reads f16 weights, and refuses to train them (when the adapter has shader-f16)', async () => {
    const g = gpu();
    if (!g.hasF16) return;
    const cols = 1536;
    const x = randomArray(3 * cols, 14);
    const w = randomArray(cols, 15);
    const y = g.scope(() => rmsNorm(g, g.tensor(x, [3, cols]), g.tensor(w, [cols], 'f16')));
    expectClose(await g.read(y), rmsNormRef(x, Float64Array.from(w, roundToHalf), cols), {
      rtol: 2e-6,
      atol: 1e-6,
    });
    y.dispose();
    const tape = new Tape(g);
    const wt = markTrainable(g.tensor(w, [cols], 'f16'));
    const out = tape.run(() => rmsNorm(g, g.tensor(x, [3, cols]), wt));
    expect(() => tape.backward(out, g.tensor(x, [3, cols]))).toThrow(ShapeError);
    tape.dispose();
  });

  it('rejects mismatched shapes and dtypes', () => {
    const g = gpu();
    g.scope(() => {
      const x = g.tensor(randomArray(12, 1), [3, 4]);
      expect(() => rmsNorm(g, x, g.tensor(randomArray(3, 2), [3]))).toThrow(ShapeError);
      expect(() => rmsNorm(g, x, g.tensor(randomArray(4, 2), [1, 4]))).toThrow(ShapeError);
      expect(() => rmsNorm(g, g.tensor([1, 2, 3, 4], [4], 'i32'), g.tensor(randomArray(4, 2), [4]))).toThrow(
        ShapeError,
      );
    });
  });
});

describe('rmsNorm backward', () => {
  // With one column, dx = w * eps / (x^2 + eps)^1.5 is the difference of two terms of size |w / x|, so
  // float32 resolves it only while x^2 is not far above eps: those rows use values near sqrt(eps).
  for (const [rows, cols, scale] of [
    [1, 1, 1e-3],
    [4, 1, 3e-3],
    [3, 7, 1],
    [2, 129, 1],
    [5, 13, 1],
  ] as const) {
    it(`dx and dw match finite differences (${rows}x${cols})`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(rows * cols, 20 + cols, scale), shape: [rows, cols], grad: true },
          { data: randomArray(cols, 21 + cols), shape: [cols], grad: true },
        ],
        forward: (g, [x, w]) => rmsNorm(g, x!, w!),
        reference: ([x, w]) => rmsNormRef(x!, w!, cols),
        h: scale * 1e-3,
      });
    });
  }

  it('gives a frozen weight no gradient, and a frozen input none (batched [2, 3, 7] input)', async () => {
    const x = randomArray(42, 30);
    const w = randomArray(7, 31);
    for (const [gx, gw] of [
      [true, false],
      [false, true],
    ] as const) {
      await checkGradients(gpu(), {
        inputs: [
          { data: x, shape: [2, 3, 7], grad: gx },
          { data: w, shape: [7], grad: gw },
        ],
        forward: (g, [xt, wt]) => rmsNorm(g, xt!, wt!),
        reference: ([xr, wr]) => rmsNormRef(xr!, wr!, 7),
      });
    }
  });

  it('handles a near-zero row and large-magnitude rows', async () => {
    const x = new Float32Array(3 * 9);
    x.set(randomArray(9, 32, 1e-4), 0);
    x.set(randomArray(9, 33, 1e4), 9);
    x.set(
      Float32Array.from(randomArray(9, 34), (v) => 1e4 + v),
      18,
    );
    await checkGradients(gpu(), {
      inputs: [
        { data: x, shape: [3, 9], grad: true },
        { data: randomArray(9, 35), shape: [9], grad: true },
      ],
      forward: (g, [xt, wt]) => rmsNorm(g, xt!, wt!),
      reference: ([xr, wr]) => rmsNormRef(xr!, wr!, 9),
      h: 1e-6,
      gradTol: 2e-4,
    });
  });

  for (const [rows, cols] of [
    [130, 1536],
    [3, 1024],
    [130, 129],
  ] as const) {
    it(`dx and dw match finite differences at sampled positions (${rows}x${cols})`, async () => {
      await checkSampledGradients(gpu(), {
        inputs: [
          { data: randomArray(rows * cols, 40 + cols), shape: [rows, cols] },
          { data: randomArray(cols, 41 + cols), shape: [cols] },
        ],
        forward: (g, [x, w]) => rmsNorm(g, x!, w!),
        reference: ([x, w]) => rmsNormRef(x!, w!, cols),
        samples: 12,
        h: 1e-3,
        tol: 1e-4,
      });
    });
  }

  it('keeps its saved statistics alive after the scope that ran the forward closes', async () => {
    const g = gpu();
    const cols = 7;
    const x = randomArray(3 * cols, 50);
    const w = randomArray(cols, 51);
    const xt = markTrainable(g.tensor(x, [3, cols]));
    const wt = markTrainable(g.tensor(w, [cols]));
    const tape = new Tape(g);
    const y = tape.run(() => g.scope(() => rmsNorm(g, xt, wt)));
    // Reuse the pool's buffers so a released rstd would be overwritten.
    g.scope(() => {
      for (let i = 0; i < 4; i++) g.tensor(new Float32Array(3).fill(123), [3]);
    });
    const grads = tape.backward(y, g.tensor(new Float32Array(3 * cols).fill(1), [3, cols]));
    const loss = (xs: Float64Array, ws: Float64Array) => rmsNormRef(xs, ws, cols).reduce((a, b) => a + b, 0);
    const xd = Float64Array.from(x);
    const h = 1e-6;
    const fd = Array.from(xd, (v, j) => {
      xd[j] = v + h;
      const up = loss(xd, Float64Array.from(w));
      xd[j] = v - h;
      const down = loss(xd, Float64Array.from(w));
      xd[j] = v;
      return (up - down) / (2 * h);
    });
    expectClose(await g.read(grads.get(xt)!), fd, { rtol: 0, atol: 1e-4 * Math.max(...fd.map(Math.abs)) });
    for (const t of [...grads.values(), xt, wt, y]) t.dispose();
    tape.dispose();
  });
});

describe('addRmsNorm', () => {
  async function fusedCase(rows: number, cols: number, seed: number, f16 = false) {
    const g = gpu();
    const x = randomArray(rows * cols, seed, 3);
    const r = randomArray(rows * cols, seed + 1, 3);
    const w = randomArray(cols, seed + 2, 2);
    const { sum, normed } = g.scope(() =>
      addRmsNorm(
        g,
        g.tensor(x, [rows, cols]),
        g.tensor(r, [rows, cols]),
        g.tensor(w, [cols], f16 ? 'f16' : 'f32'),
      ),
    );
    const s = Float64Array.from(x, (v, i) => v + r[i]!);
    expectClose(await g.read(sum), s, { rtol: 1e-7, atol: 1e-7 });
    const wRef = f16 ? Float64Array.from(w, roundToHalf) : w;
    expectClose(await g.read(normed), rmsNormRef(s, wRef, cols), { rtol: 2e-6, atol: 1e-6 });
    sum.dispose();
    normed.dispose();
  }

  for (const cols of [1, 7, 129, 1536]) {
    it(`gives the sum and its norm of the float64 reference for rows of ${cols}`, async () => {
      for (const rows of [1, 3, 130]) await fusedCase(rows, cols, rows + cols);
    });
  }

  it('reads f16 weights (when the adapter has shader-f16)', async () => {
    if (gpu().hasF16) await fusedCase(3, 129, 40, true);
  });

  it('records the add and the norm under a tape: gradients match finite differences', async () => {
    const [rows, cols] = [3, 7];
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(rows * cols, 41), shape: [rows, cols], grad: true },
        { data: randomArray(rows * cols, 42), shape: [rows, cols], grad: true },
        { data: randomArray(cols, 43), shape: [cols], grad: true },
      ],
      forward: (g, [x, r, w]) => {
        const { sum, normed } = addRmsNorm(g, x!, r!, w!);
        sum.dispose();
        return normed;
      },
      reference: ([x, r, w]) =>
        rmsNormRef(
          Float64Array.from(x!, (v, i) => v + r![i]!),
          w!,
          cols,
        ),
    });
  });

  it('rejects a residual of another shape', () => {
    const g = gpu();
    g.scope(() => {
      const x = g.tensor(randomArray(12, 1), [3, 4]);
      const w = g.tensor(randomArray(4, 2), [4]);
      expect(() => addRmsNorm(g, x, g.tensor(randomArray(8, 3), [2, 4]), w)).toThrow(ShapeError);
      expect(() => addRmsNorm(g, x, x, g.tensor(randomArray(3, 2), [3]))).toThrow(ShapeError);
    });
  });
});
