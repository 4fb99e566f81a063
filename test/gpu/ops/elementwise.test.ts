// add, mul, scale and axpy against float64 references, on sizes 1, 7, 129, 1024 and one large enough to
// need a two-dimensional grid (more than 65535 workgroups of 256), with broadcast operands.
import { describe, expect, it } from 'vitest';
import { add } from '../../../src/gpu/ops/add.ts';
import { axpy } from '../../../src/gpu/ops/axpy.ts';
import { mul } from '../../../src/gpu/ops/mul.ts';
import { scale } from '../../../src/gpu/ops/scale.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { broadcastRef } from '../../reference/elementwise.ts';

const gpu = setupGpu();
const SIZES = [1, 7, 129, 1024, 65535 * 256 + 7];

describe('elementwise', () => {
  it('add and mul match the reference, with and without broadcast', async () => {
    for (const n of SIZES) {
      const a = randomArray(n, n, 10);
      const b = randomArray(n, n + 1, 10);
      const ta = gpu().tensor(a, [n]);
      const tb = gpu().tensor(b, [n]);
      const sum = add(gpu(), ta, tb);
      const prod = mul(gpu(), ta, tb);
      expectClose(
        await gpu().read(sum),
        broadcastRef(a, b, (x, y) => x + y),
        { rtol: 1e-7, atol: 0 },
      );
      expectClose(
        await gpu().read(prod),
        broadcastRef(a, b, (x, y) => x * y),
        { rtol: 1e-7, atol: 0 },
      );
      for (const t of [ta, tb, sum, prod]) t.dispose();
    }
    const [rows, cols] = [129, 7];
    const a = randomArray(rows * cols, 5);
    const bias = randomArray(cols, 6);
    const out = gpu().scope(() => add(gpu(), gpu().tensor(a, [rows, cols]), gpu().tensor(bias, [cols])));
    expect(out.shape).toEqual([rows, cols]);
    expectClose(
      await gpu().read(out),
      broadcastRef(a, bias, (x, y) => x + y),
      { rtol: 1e-7, atol: 0 },
    );
    out.dispose();
  });

  it('scale and axpy match the reference', async () => {
    for (const n of SIZES) {
      const x = randomArray(n, 2 * n, 3);
      const y = randomArray(n, 2 * n + 1, 3);
      const tx = gpu().tensor(x, [n]);
      const ty = gpu().tensor(y, [n]);
      const s = scale(gpu(), tx, -1.75);
      axpy(gpu(), ty, tx, 0.3);
      expectClose(
        await gpu().read(s),
        Float64Array.from(x, (v) => -1.75 * v),
        { rtol: 1e-7, atol: 0 },
      );
      expectClose(
        await gpu().read(ty),
        broadcastRef(y, x, (u, v) => u + Math.fround(0.3) * v),
        {
          rtol: 2e-7,
          atol: 1e-7,
        },
      );
      for (const t of [tx, ty, s]) t.dispose();
    }
  });

  it('propagates infinities and NaN as IEEE arithmetic does', async () => {
    const a = [Number.POSITIVE_INFINITY, Number.NaN, 3e38, -0];
    const b = [1, 1, 3e38, 0];
    const out = gpu().scope(() => add(gpu(), gpu().tensor(a, [4]), gpu().tensor(b, [4])));
    const got = Array.from(await gpu().read(out));
    expect(got[0]).toBe(Number.POSITIVE_INFINITY);
    expect(got[1]).toBeNaN();
    expect(got[2]).toBe(Number.POSITIVE_INFINITY);
    expect(got[3]).toBe(0);
    out.dispose();
  });
});
