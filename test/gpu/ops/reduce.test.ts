// Row reductions (sum, mean, max, sum of squares) against float64 references: row lengths 1, 7, 129,
// 1024 and 4099; more rows than one grid dimension holds; large and negative values.
import { describe, expect, it } from 'vitest';
import { reduceRows } from '../../../src/gpu/ops/reduce.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { reduceRowsRef, rowMagnitude } from '../../reference/elementwise.ts';

const gpu = setupGpu();

describe('reduceRows', () => {
  for (const op of ['sum', 'mean', 'max', 'sumsq'] as const) {
    it(`${op} matches the reference`, async () => {
      for (const [rows, cols] of [
        [1, 1],
        [3, 7],
        [129, 129],
        [7, 1024],
        [5, 4099],
        [70_000, 3],
      ] as const) {
        const x = randomArray(rows * cols, rows + cols, 50);
        const t = gpu().tensor(x, [rows, cols]);
        const r = reduceRows(gpu(), t, op);
        expect(r.shape).toEqual([rows]);
        const ref = reduceRowsRef(x, cols, op);
        const mag = op === 'max' ? undefined : rowMagnitude(x, cols, op === 'sumsq');
        const scaled = mag && op === 'mean' ? mag.map((m) => m / cols) : mag;
        expectClose(await gpu().read(r), ref, { magnitude: scaled, rtol: 1e-6, atol: 0 });
        t.dispose();
        r.dispose();
      }
    });
  }

  it('handles huge values and all-negative rows', async () => {
    const x = [-3e38, -1e38, -5, -7, 3e38, 3e38, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const t = gpu().tensor(x, [4, 2]);
    const mx = reduceRows(gpu(), t, 'max');
    const sum = reduceRows(gpu(), t, 'sum');
    expect(Array.from(await gpu().read(mx))).toEqual([
      Math.fround(-1e38),
      -5,
      Math.fround(3e38),
      Number.NEGATIVE_INFINITY,
    ]);
    const s = await gpu().read(sum);
    expect(s[1]).toBe(-12);
    expect(s[2]).toBe(Number.POSITIVE_INFINITY);
    for (const u of [t, mx, sum]) u.dispose();
  });
});
