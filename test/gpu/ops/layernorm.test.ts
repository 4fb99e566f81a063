// layerNorm: forward against the float64 reference over row lengths 1, 7, 129, 1024, 1536 and row
// counts 1, 3, 130; rows of magnitude 1e4 (spread and offset), constant rows (variance 0); f16 weights;
// dx, dw and db against finite differences (all elements on small shapes, sampled ones on large
// shapes); frozen parameters getting no gradient; the saved statistics outliving their scope; shape
// errors.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { layerNorm } from '../../../src/gpu/ops/layernorm.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { layerNormRef } from '../../reference/norm.ts';
import { checkGradients } from '../gradcheck.ts';
import { checkSampledGradients } from '../norm-helpers.ts';

const gpu = setupGpu();

async function forwardCase(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  cols: number,
  { eps, rtol = 2e-6, atol = 1e-6 }: { eps?: number; rtol?: number; atol?: number } = {},
) {
  const g = gpu();
  const rows = x.length / cols;
  const y = g.scope(() =>
    layerNorm(g, g.tensor(x, [rows, cols]), g.tensor(w, [cols]), g.tensor(b, [cols]), eps),
  );
  expect(y.shape).toEqual([rows, cols]);
  const ref = layerNormRef(x, w, b, cols, eps);
  // Each output is xhat * w + b with |xhat| of order 1 or less: tolerance relative to |xhat w| + |b|.
  const mag = Float64Array.from(ref, (_, i) => Math.abs(ref[i]! - b[i % cols]!) + Math.abs(b[i % cols]!));
  expectClose(await g.read(y), ref, { rtol, atol, magnitude: mag });
  y.dispose();
}

describe('layerNorm forward', () => {
  for (const cols of [1, 7, 129, 1024, 1536]) {
    it(`matches the reference for rows of ${cols}`, async () => {
      for (const rows of [1, 3, 130]) {
        await forwardCase(
          randomArray(rows * cols, rows + cols, 3),
          randomArray(cols, cols + 1, 2),
          randomArray(cols, cols + 2),
          cols,
        );
      }
    });
  }

  it('handles rows of magnitude 1e4, spread out or around a large offset', async () => {
    for (const cols of [7, 1536]) {
      const x = randomArray(3 * cols, 8 + cols, 1e4);
      for (let c = 0; c < cols; c++) x[cols + c] = 1e4 + x[cols + c]! * 1e-4;
      for (let c = 0; c < cols; c++) x[2 * cols + c] = -3e4 + x[2 * cols + c]! * 1e-2;
      // In float32 the first offset row varies only in its last bit (the spread is below one ulp of
      // 1e4), the second in its last few; the reference reads the same float32 values, so only the
      // kernel's own rounding shows (a mean rounded to the resolution of x fails this).
      await forwardCase(x, randomArray(cols, 9), randomArray(cols, 10), cols);
    }
  });

  it('maps a constant row (variance 0) to the bias exactly', async () => {
    for (const cols of [1, 7, 129, 1536]) {
      const x = new Float32Array(4 * cols);
      x.fill(Math.fround(1e4 / 3), 0, cols);
      x.fill(0, cols, 2 * cols);
      x.fill(-0.1, 2 * cols, 3 * cols);
      x.set(randomArray(cols, 11), 3 * cols);
      const b = randomArray(cols, 12);
      const g = gpu();
      const y = g.scope(() =>
        layerNorm(g, g.tensor(x, [4, cols]), g.tensor(randomArray(cols, 13), [cols]), g.tensor(b, [cols])),
      );
      const got = await g.read(y);
      expect(Array.from(got.subarray(0, 3 * cols))).toEqual([...b, ...b, ...b]);
      y.dispose();
      await forwardCase(x, randomArray(cols, 13), b, cols);
    }
  });

  it('uses eps as given', async () => {
    await forwardCase(randomArray(3 * 7, 14, 1e-3), randomArray(7, 15), randomArray(7, 16), 7, { eps: 1e-5 });
  });

  it('reads f16 weight and bias, and refuses to train them (when the adapter has shader-f16)', async () => {
    const g = gpu();
    if (!g.hasF16) return;
    const cols = 1280;
    const x = randomArray(3 * cols, 17);
    const w = randomArray(cols, 18);
    const b = randomArray(cols, 19);
    const y = g.scope(() =>
      layerNorm(g, g.tensor(x, [3, cols]), g.tensor(w, [cols], 'f16'), g.tensor(b, [cols], 'f16')),
    );
    const ref = layerNormRef(x, Float64Array.from(w, roundToHalf), Float64Array.from(b, roundToHalf), cols);
    expectClose(await g.read(y), ref, { rtol: 2e-6, atol: 2e-6 });
    y.dispose();
    const tape = new Tape(g);
    const bt = markTrainable(g.tensor(b, [cols], 'f16'));
    const out = tape.run(() => layerNorm(g, g.tensor(x, [3, cols]), g.tensor(w, [cols], 'f16'), bt));
    expect(() => tape.backward(out, g.tensor(x, [3, cols]))).toThrow(ShapeError);
    tape.dispose();
  });

  it('rejects mismatched shapes and dtypes', () => {
    const g = gpu();
    g.scope(() => {
      const x = g.tensor(randomArray(12, 1), [3, 4]);
      const w = g.tensor(randomArray(4, 2), [4]);
      expect(() => layerNorm(g, x, w, g.tensor(randomArray(3, 2), [3]))).toThrow(ShapeError);
      expect(() => layerNorm(g, x, g.tensor(randomArray(5, 2), [5]), w)).toThrow(ShapeError);
      if (g.hasF16)
        expect(() => layerNorm(g, x, w, g.tensor(randomArray(4, 2), [4], 'f16'))).toThrow(ShapeError);
    });
  });
});

describe('layerNorm backward', () => {
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [2, 129],
    [5, 13],
  ] as const) {
    it(`dx, dw and db match finite differences (${rows}x${cols})`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(rows * cols, 20 + cols), shape: [rows, cols], grad: true },
          { data: randomArray(cols, 21 + cols), shape: [cols], grad: true },
          { data: randomArray(cols, 22 + cols), shape: [cols], grad: true },
        ],
        forward: (g, [x, w, b]) => layerNorm(g, x!, w!, b!),
        reference: ([x, w, b]) => layerNormRef(x!, w!, b!, cols),
      });
    });
  }

  it('gives frozen parameters no gradient (each combination, batched [2, 3, 7] input)', async () => {
    const x = randomArray(42, 30);
    const w = randomArray(7, 31);
    const b = randomArray(7, 32);
    for (const [gx, gw, gb] of [
      [true, false, false],
      [true, true, false],
      [true, false, true],
      [false, true, false],
      [false, false, true],
    ] as const) {
      await checkGradients(gpu(), {
        inputs: [
          { data: x, shape: [2, 3, 7], grad: gx },
          { data: w, shape: [7], grad: gw },
          { data: b, shape: [7], grad: gb },
        ],
        forward: (g, [xt, wt, bt]) => layerNorm(g, xt!, wt!, bt!),
        reference: ([xr, wr, br]) => layerNormRef(xr!, wr!, br!, 7),
      });
    }
  });

  it('handles a constant row and rows of magnitude 1e4', async () => {
    const cols = 9;
    const x = new Float32Array(3 * cols);
    x.fill(2.5, 0, cols);
    x.set(randomArray(cols, 33, 1e4), cols);
    x.set(
      Float32Array.from(randomArray(cols, 34), (v) => 1e4 + v),
      2 * cols,
    );
    await checkGradients(gpu(), {
      inputs: [
        { data: x, shape: [3, cols], grad: true },
        { data: randomArray(cols, 35), shape: [cols], grad: true },
        { data: randomArray(cols, 36), shape: [cols], grad: true },
      ],
      forward: (g, [xt, wt, bt]) => layerNorm(g, xt!, wt!, bt!),
      reference: ([xr, wr, br]) => layerNormRef(xr!, wr!, br!, cols),
      h: 1e-6,
      gradTol: 2e-4,
    });
  });

  for (const [rows, cols] of [
    [130, 1536],
    [3, 1024],
    [130, 129],
  ] as const) {
    it(`dx, dw and db match finite differences at sampled positions (${rows}x${cols})`, async () => {
      await checkSampledGradients(gpu(), {
        inputs: [
          { data: randomArray(rows * cols, 40 + cols), shape: [rows, cols] },
          { data: randomArray(cols, 41 + cols), shape: [cols] },
          { data: randomArray(cols, 42 + cols), shape: [cols] },
        ],
        forward: (g, [x, w, b]) => layerNorm(g, x!, w!, b!),
        reference: ([x, w, b]) => layerNormRef(x!, w!, b!, cols),
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
    const b = randomArray(cols, 52);
    const xt = markTrainable(g.tensor(x, [3, cols]));
    const wt = markTrainable(g.tensor(w, [cols]));
    const bt = g.tensor(b, [cols]);
    const tape = new Tape(g);
    const y = tape.run(() => g.scope(() => layerNorm(g, xt, wt, bt)));
    // Reuse the pool's buffers so a released mean or rstd would be overwritten.
    g.scope(() => {
      for (let i = 0; i < 4; i++) g.tensor(new Float32Array(3).fill(123), [3]);
    });
    const gy = randomArray(3 * cols, 53);
    const grads = tape.backward(y, g.tensor(gy, [3, cols]));
    const wd = Float64Array.from(w);
    const loss = (xs: Float64Array) =>
      layerNormRef(xs, wd, Float64Array.from(b), cols).reduce((a, v, i) => a + v * gy[i]!, 0);
    const xd = Float64Array.from(x);
    const h = 1e-6;
    const fd = Array.from(xd, (v, j) => {
      xd[j] = v + h;
      const up = loss(xd);
      xd[j] = v - h;
      const down = loss(xd);
      xd[j] = v;
      return (up - down) / (2 * h);
    });
    expect(grads.has(bt)).toBe(false);
    expectClose(await g.read(grads.get(xt)!), fd, { rtol: 0, atol: 1e-4 * Math.max(...fd.map(Math.abs)) });
    for (const t of [...grads.values(), xt, wt, bt, y]) t.dispose();
    tape.dispose();
  });
});
