// matmul kernel against the float64 reference: every transpose combination, odd and large shapes,
// batches (shared and per-batch operands), bias / alpha / accumulate epilogues, views with leading
// dimensions and offsets, weights split over the storage-binding limit, and f16 weights.
import { describe, expect, it } from 'vitest';
import { GpuValidationError, ShapeError } from '../../../src/gpu/errors.ts';
import {
  gemm,
  type MatmulPath,
  matmul,
  prefersSubgroupMatmul,
  vec4Aligned,
} from '../../../src/gpu/ops/matmul.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { matmulRef } from '../../reference/matmul.ts';

const gpu = setupGpu();

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 7, 7],
  [1, 129, 7],
  [129, 7, 1],
  [7, 129, 129],
  [33, 65, 17],
  [129, 1024, 7],
  // Aligned shapes, taken by the vec4 kernel (odd M is allowed there unless A is transposed).
  [4, 4, 4],
  [12, 16, 20],
  [64, 128, 36],
  [131, 8, 4],
  [132, 36, 8],
];

/** The kernels this adapter can run, each forced in turn; vec4 only where the operands allow it. */
function paths(): MatmulPath[] {
  const g = gpu();
  const out: MatmulPath[] = ['general', 'vec4'];
  if (g.hasSubgroups && g.adapter.subgroupMinSize >= 8) out.push('subgroup');
  return out;
}

describe('matmul', () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`matches the reference on odd and aligned shapes, every kernel (transA=${transA}, transB=${transB})`, async () => {
        for (const path of paths()) {
          for (const [M, K, N] of SHAPES) {
            const dense = {
              M,
              N,
              K,
              lda: transA ? M : K,
              ldb: transB ? K : N,
              ldc: N,
              offA: 0,
              offB: 0,
              offC: 0,
            };
            const aligned = vec4Aligned({
              ...dense,
              offBias: 0,
              batch: 1,
              strideA: 0,
              strideB: 0,
              strideC: 0,
              alpha: 1,
              accumulate: false,
              transA,
              transB,
            });
            if (path === 'vec4' && !aligned) continue;
            const a = randomArray(M * K, M * 31 + K);
            const b = randomArray(K * N, N * 17 + K);
            const ta = gpu().tensor(a, transA ? [K, M] : [M, K]);
            const tb = gpu().tensor(b, transB ? [N, K] : [K, N]);
            const c = gpu().empty([M, N]);
            gemm(gpu(), { a: ta, b: tb, c, M, N, K, transA, transB, path });
            const ref = matmulRef(a, b, M, K, N, { transA, transB });
            expectClose(await gpu().read(c), ref.c, {
              magnitude: ref.magnitude,
              rtol: 2e-6 * Math.sqrt(K) + 1e-6,
            });
            for (const t of [ta, tb, c]) t.dispose();
          }
        }
      });
    }
  }

  it('sends aligned operands to the vec4 kernel and the rest to the general one', () => {
    const base = { M: 8, N: 8, K: 8, lda: 8, ldb: 8, ldc: 8, offA: 0, offB: 0, offC: 0, offBias: 0 };
    const dense = { ...base, batch: 1, strideA: 64, strideB: 64, strideC: 64, alpha: 1, accumulate: false };
    expect(vec4Aligned({ ...dense, transA: false, transB: false })).toBe(true);
    expect(vec4Aligned({ ...dense, transA: true, transB: true })).toBe(true);
    expect(vec4Aligned({ ...dense, K: 7, transA: false, transB: true })).toBe(false);
    expect(vec4Aligned({ ...dense, N: 7, transA: false, transB: false })).toBe(false);
    expect(vec4Aligned({ ...dense, N: 7, transA: false, transB: true })).toBe(true);
    expect(vec4Aligned({ ...dense, M: 7, transA: true, transB: false })).toBe(false);
    expect(vec4Aligned({ ...dense, offA: 2, transA: false, transB: false })).toBe(false);
  });

  it('matches the reference at 1024 x 1024 x 1024', async () => {
    const n = 1024;
    const a = randomArray(n * n, 1);
    const b = randomArray(n * n, 2);
    const c = gpu().scope(() =>
      matmul(gpu(), gpu().tensor(a, [n, n]), gpu().tensor(b, [n, n]), { transB: true }),
    );
    const ref = matmulRef(a, b, n, n, n, { transB: true });
    expectClose(await gpu().read(c), ref.c, { magnitude: ref.magnitude, rtol: 1e-4 });
    c.dispose();
  });

  it('applies bias, alpha and accumulate, every kernel', async () => {
    for (const path of paths()) {
      const [M, K, N] = path === 'vec4' ? [9, 12, 11] : [9, 13, 11];
      const a = randomArray(M * K, 3);
      const b = randomArray(N * K, 4);
      const bias = randomArray(N, 5);
      const c0 = randomArray(M * N, 6);
      const out = gpu().tensor(c0, [M, N]);
      gpu().scope(() => {
        const [ta, tb, tbias] = [gpu().tensor(a, [M, K]), gpu().tensor(b, [N, K]), gpu().tensor(bias, [N])];
        gemm(gpu(), {
          a: ta,
          b: tb,
          c: out,
          bias: tbias,
          M,
          N,
          K,
          transB: true,
          alpha: -0.5,
          accumulate: true,
          path,
        });
      });
      const ref = matmulRef(a, b, M, K, N, { transB: true, alpha: -0.5, bias, c0 });
      expectClose(await gpu().read(out), ref.c, { magnitude: ref.magnitude });
      out.dispose();
    }
  });

  it('picks the subgroup kernel exactly on CPU adapters with subgroups of 8 or more lanes', () => {
    const g = gpu();
    expect(prefersSubgroupMatmul(g)).toBe(
      g.adapter.isFallback && g.hasSubgroups && g.adapter.subgroupMinSize >= 8,
    );
  });

  it('runs batches with per-batch and shared operands', async () => {
    const [B, M, K, N] = [3, 5, 8, 7];
    const a = randomArray(B * M * K, 7);
    const b = randomArray(K * N, 8);
    const b3 = randomArray(B * K * N, 9);
    const [shared, perBatch] = gpu().scope(() => {
      const ta = gpu().tensor(a, [B, M, K]);
      return [matmul(gpu(), ta, gpu().tensor(b, [K, N])), matmul(gpu(), ta, gpu().tensor(b3, [B, K, N]))];
    });
    expect(shared.shape).toEqual([B, M, N]);
    const s = await gpu().read(shared);
    const p = await gpu().read(perBatch);
    for (let i = 0; i < B; i++) {
      const ai = a.subarray(i * M * K, (i + 1) * M * K);
      const r1 = matmulRef(ai, b, M, K, N);
      expectClose(s.subarray(i * M * N, (i + 1) * M * N), r1.c, { magnitude: r1.magnitude });
      const r2 = matmulRef(ai, b3.subarray(i * K * N, (i + 1) * K * N), M, K, N);
      expectClose(p.subarray(i * M * N, (i + 1) * M * N), r2.c, { magnitude: r2.magnitude });
    }
    shared.dispose();
    perBatch.dispose();
  });

  it('applies silu of C to the result when gated (every kernel), and refuses it with accumulate', async () => {
    for (const path of paths()) {
      const [M, K, N] = path === 'vec4' ? [9, 12, 11] : [9, 13, 11];
      const a = randomArray(M * K, 30);
      const b = randomArray(N * K, 31);
      const gate = randomArray(M * N, 32, 4);
      const c = gpu().tensor(gate, [M, N]);
      gemm(gpu(), {
        path,
        a: gpu().tensor(a, [M, K]),
        b: gpu().tensor(b, [N, K]),
        c,
        M,
        N,
        K,
        transB: true,
        gated: true,
      });
      const ref = matmulRef(a, b, M, K, N, { transB: true });
      const want = ref.c.map((v, i) => (v * gate[i]!) / (1 + Math.exp(-gate[i]!)));
      expectClose(await gpu().read(c), want, {
        magnitude: ref.magnitude.map((m, i) => m * Math.abs(gate[i]! / (1 + Math.exp(-gate[i]!)))),
      });
      c.dispose();
    }
    const t = gpu().tensor(randomArray(4, 33), [2, 2]);
    expect(() =>
      gemm(gpu(), { a: t, b: t, c: t, M: 2, N: 2, K: 2, transB: true, gated: true, accumulate: true }),
    ).toThrow(ShapeError);
    expect(() => gemm(gpu(), { a: t, b: t, c: t, M: 2, N: 2, K: 2, gated: true })).toThrow(ShapeError);
    t.dispose();
  });

  it('computes on strided views (per-head slices of a packed matrix)', async () => {
    // q and k packed as [S, H * D]; scores[h] = q[:, h] . k[:, h]^T for each head h, via offsets and lda.
    const [S, H, D] = [6, 3, 5];
    const q = randomArray(S * H * D, 10);
    const k = randomArray(S * H * D, 11);
    const tq = gpu().tensor(q, [S, H * D]);
    const tk = gpu().tensor(k, [S, H * D]);
    for (const path of paths().filter((x) => x !== 'vec4')) {
      const scores = gpu().empty([H, S, S]);
      gemm(gpu(), {
        path,
        a: tq,
        b: tk,
        c: scores,
        M: S,
        N: S,
        K: D,
        batch: H,
        transB: true,
        lda: H * D,
        ldb: H * D,
        strideA: D,
        strideB: D,
        strideC: S * S,
      });
      const got = await gpu().read(scores);
      for (let h = 0; h < H; h++) {
        const qh = new Float32Array(S * D);
        const kh = new Float32Array(S * D);
        for (let s = 0; s < S; s++)
          for (let d = 0; d < D; d++) {
            qh[s * D + d] = q[s * H * D + h * D + d]!;
            kh[s * D + d] = k[s * H * D + h * D + d]!;
          }
        const ref = matmulRef(qh, kh, S, D, S, { transB: true });
        expectClose(got.subarray(h * S * S, (h + 1) * S * S), ref.c, { magnitude: ref.magnitude });
      }
      scores.dispose();
    }
    for (const t of [tq, tk]) t.dispose();
  });

  it('uses f16 weights with f32 accumulation (or refuses them without shader-f16)', async () => {
    if (!gpu().hasF16) {
      const w = gpu().tensor([1, 2], [1, 2], 'f16');
      expect(() => matmul(gpu(), gpu().tensor([1, 2], [1, 2]), w, { transB: true })).toThrow(
        GpuValidationError,
      );
      return;
    }
    for (const [M, K, N] of [
      [7, 129, 33],
      [64, 256, 96],
    ] as const) {
      const a = randomArray(M * K, 12);
      const w = randomArray(N * K, 13);
      const wHalf = Float64Array.from(w, roundToHalf);
      const c = gpu().scope(() =>
        matmul(gpu(), gpu().tensor(a, [M, K]), gpu().tensor(w, [N, K], 'f16'), { transB: true }),
      );
      const ref = matmulRef(a, wHalf, M, K, N, { transB: true });
      expectClose(await gpu().read(c), ref.c, { magnitude: ref.magnitude, rtol: 1e-5 });
      c.dispose();
    }
  });
});
