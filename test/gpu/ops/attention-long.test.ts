// attention at S 2048 (causal, Hq 2, Hkv 1, D 16): the forward matches the float64 reference on a
// subset of rows, and neither the forward nor the backward allocates any buffer of S * S * 4 bytes.
// Its own file, so the pool's largestBuffer is this test's alone.
import { expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { attention } from '../../../src/gpu/ops/attention.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { attentionProbs, attentionRef } from '../../reference/attention.ts';

const gpu = setupGpu();

it('runs S 2048 causal without an S x S buffer, matching the reference on sampled rows', async () => {
  const g = gpu();
  const S = 2048;
  const sh = { S, Hq: 2, Hkv: 1, D: 16 };
  const opts = { causal: true };
  const qd = randomArray(S * 2 * 16, 1, 2);
  const kd = randomArray(S * 16, 2, 2);
  const vd = randomArray(S * 16, 3);
  const gd = randomArray(S * 2 * 16, 4);
  const q = markTrainable(g.tensor(qd, [S, 2, 16]));
  const k = markTrainable(g.tensor(kd, [S, 1, 16]));
  const v = markTrainable(g.tensor(vd, [S, 1, 16]));
  const tape = new Tape(g);
  const y = tape.run(() => attention(g, q, k, v, opts));
  const grads = tape.backward(y, g.tensor(gd, y.shape));
  const out = await g.read(y);
  const dq = await g.read(grads.get(q)!);
  expect(grads.get(k)).toBeDefined();
  expect(grads.get(v)).toBeDefined();
  await g.sync();

  const rows = [0, 1, 63, 64, 65, 1000, 1023, 1024, 2046, 2047];
  const ref = attentionRef(qd, kd, vd, sh, opts, rows);
  const got = new Float32Array(rows.length * 2 * 16);
  rows.forEach((i, r) => {
    got.set(out.subarray(i * 32, i * 32 + 32), r * 32);
  });
  expectClose(got, ref, { rtol: 0, atol: 2e-5 });

  // dq of one row needs only that row: dq_i = scale sum_j p_ij (dO_i . v_j - delta_i) k_j.
  const scale = 1 / 4;
  for (const i of [5, 2047]) {
    for (let h = 0; h < 2; h++) {
      const p = attentionProbs(qd, kd, sh, opts, i, h)!;
      const go = gd.subarray((i * 2 + h) * 16, (i * 2 + h) * 16 + 16);
      const dp = Array.from({ length: S }, (_, j) => go.reduce((s, x, d) => s + x * vd[j * 16 + d]!, 0));
      const delta = dp.reduce((s, x, j) => s + x * p[j]!, 0);
      const want = new Float64Array(16);
      for (let j = 0; j < S; j++)
        for (let d = 0; d < 16; d++) want[d]! += scale * p[j]! * (dp[j]! - delta) * kd[j * 16 + d]!;
      const mag = Math.max(...Array.from(want, Math.abs));
      expectClose(dq.subarray((i * 2 + h) * 16, (i * 2 + h) * 16 + 16), want, { rtol: 0, atol: 1e-4 * mag });
    }
  }

  const stats = g.pool.snapshot();
  expect(stats.largestBuffer).toBeGreaterThan(0);
  expect(stats.largestBuffer).toBeLessThan(S * S * 4);
  expect(stats.largestBuffer).toBeLessThanOrEqual(S * 2 * 16 * 4);
  for (const t of grads.values()) t.dispose();
  for (const t of [q, k, v, y]) t.dispose();
  tape.dispose();
});
