// Rotary embeddings: the 1D, M-RoPE and vision 2D angle tables against float64 references written from
// HF's formulas; the rotation (contiguous [S, H, D] and a head slice of packed qkv) against float64;
// gradients against finite differences and, on large shapes, against the inverse rotation.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { applyRope, ropeIntoCache, ropeTable } from '../../../src/gpu/ops/rope.ts';
import {
  mropeAngles,
  ropeAngles1d,
  ropeCosSin,
  visionPatchPositions,
  visionRopeAngles,
} from '../../../src/gpu/rope-angles.ts';
import { expectClose, randomArray, rng, setupGpu } from '../../helpers.ts';
import { applyRopeRef, mropeEmbRef, rope1dEmbRef, visionEmbRef } from '../../reference/rope.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

/** Our [S, D/2] angles widened to HF's [S, D] emb (each angle serves dims i and i + D/2). */
function widen(angles: Float64Array, D: number): Float64Array {
  const half = D / 2;
  const S = angles.length / half;
  const out = new Float64Array(S * D);
  for (let s = 0; s < S; s++) for (let d = 0; d < D; d++) out[s * D + d] = angles[s * half + (d % half)]!;
  return out;
}

function expectAngles(got: Float64Array, D: number, ref: Float64Array): void {
  expect(got.length * 2).toBe(ref.length);
  expectClose(widen(got, D), ref, { rtol: 1e-12, atol: 1e-12 });
}

/** A prompt with text, a 2x3 merged image grid, then text again: get_rope_index's t/h/w rows. */
function imagePromptPositions(): [number[], number[], number[]] {
  const t: number[] = [];
  const h: number[] = [];
  const w: number[] = [];
  const text = (n: number) => {
    t.push(n);
    h.push(n);
    w.push(n);
  };
  for (let i = 0; i < 3; i++) text(i);
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < 3; c++) {
      t.push(3);
      h.push(3 + r);
      w.push(3 + c);
    }
  for (let i = 0; i < 2; i++) text(6 + i);
  return [t, h, w];
}

function randomPositions(n: number, seed: number, max = 4096): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * max));
}

describe('rope angle tables', () => {
  for (const D of [8, 16, 80, 128]) {
    it(`1D RoPE matches HF's emb (head_dim ${D}, theta 1e6 and 1e4)`, () => {
      const pos = [0, 1, 2, 7, 128, 4095, 32767];
      expectAngles(ropeAngles1d(pos, D, 1e6), D, rope1dEmbRef(pos, D, 1e6));
      expectAngles(ropeAngles1d(pos, D, 1e4), D, rope1dEmbRef(pos, D, 1e4));
    });
  }

  it('M-RoPE matches HF on an image prompt (t/h/w differ), head_dim 128, section [16, 24, 24]', () => {
    const p = imagePromptPositions();
    const got = mropeAngles(p, 128, 1e6, [16, 24, 24]);
    expectAngles(got, 128, mropeEmbRef(p, 128, 1e6, [16, 24, 24]));
    // token 8 is image row 1, col 2: t = 3, h = 4, w = 5 (REFERENCE.md's layout: 0-15 t, 16-39 h, 40-63 w)
    const inv = (i: number) => 1 / 1e6 ** ((2 * i) / 128);
    expect(got[8 * 64 + 15]).toBeCloseTo(3 * inv(15), 12);
    expect(got[8 * 64 + 16]).toBeCloseTo(4 * inv(16), 12);
    expect(got[8 * 64 + 39]).toBeCloseTo(4 * inv(39), 12);
    expect(got[8 * 64 + 40]).toBeCloseTo(5 * inv(40), 12);
  });

  it('M-RoPE matches HF for other sections and random positions', () => {
    const p: [number[], number[], number[]] = [
      randomPositions(7, 1),
      randomPositions(7, 2),
      randomPositions(7, 3),
    ];
    for (const [D, section] of [
      [16, [2, 3, 3]],
      [8, [0, 1, 3]],
      [80, [10, 15, 15]],
    ] as const) {
      expectAngles(mropeAngles(p, D, 1e6, section), D, mropeEmbRef(p, D, 1e6, [...section]));
    }
  });

  it('M-RoPE with equal t/h/w rows is 1D RoPE', () => {
    const pos = randomPositions(9, 4);
    expect(Array.from(mropeAngles([pos, pos, pos], 128))).toEqual(Array.from(ropeAngles1d(pos, 128)));
  });

  for (const [t, h, w, D] of [
    [1, 4, 6, 80],
    [2, 4, 6, 16],
    [1, 2, 2, 8],
  ] as const) {
    it(`vision 2D RoPE matches HF's rot_pos_emb (grid ${t}x${h}x${w}, head_dim ${D})`, () => {
      const { rows, cols } = visionPatchPositions(t, h, w);
      expect(rows.length).toBe(t * h * w);
      expectAngles(visionRopeAngles(rows, cols, D), D, visionEmbRef(t, h, w, 2, D, 10000));
    });
  }

  it('cos/sin table holds cos then sin of each angle, evaluated accurately for large angles', () => {
    const angles = Float64Array.from([0, Math.PI / 2, 1, 12345.678, -3, 1e5 + 0.25]);
    const table = ropeCosSin(angles, 3);
    const expected = [0, Math.PI / 2, 1]
      .map(Math.cos)
      .concat([0, Math.PI / 2, 1].map(Math.sin))
      .concat([12345.678, -3, 1e5 + 0.25].map(Math.cos), [12345.678, -3, 1e5 + 0.25].map(Math.sin));
    expectClose(table, expected, { rtol: 1e-7, atol: 1e-7 });
  });

  it('rejects bad shapes with ShapeError', () => {
    expect(() => ropeAngles1d([0], 7)).toThrow(ShapeError);
    expect(() => mropeAngles([[0], [0], [0]], 128, 1e6, [16, 24, 23])).toThrow(ShapeError);
    expect(() => mropeAngles([[0], [0, 1], [0]], 128)).toThrow(ShapeError);
    expect(() => visionRopeAngles([0], [0], 10)).toThrow(ShapeError);
    expect(() => visionPatchPositions(1, 3, 4)).toThrow(ShapeError);
  });
});

/** Float64 cos/sin [S, D] of HF-style full-width angles. */
function cosSin(emb: Float64Array): { cos: Float64Array; sin: Float64Array } {
  return { cos: emb.map(Math.cos), sin: emb.map(Math.sin) };
}

/** Reference reading the f32 table [S, D] = [cos x half | sin x half] as applyRope does. */
function tableRef(S: number, H: number, D: number) {
  return ([x, table]: Float64Array[]) => {
    const half = D / 2;
    const cos = new Float64Array(S * D);
    const sin = new Float64Array(S * D);
    for (let s = 0; s < S; s++)
      for (let d = 0; d < D; d++) {
        cos[s * D + d] = table![s * D + (d % half)]!;
        sin[s * D + d] = table![s * D + half + (d % half)]!;
      }
    return applyRopeRef(x!, cos, sin, S, H, D);
  };
}

function anglesFor(
  kind: '1d' | 'mrope' | 'vision',
  S: number,
  D: number,
  seed: number,
): { angles: Float64Array; emb: Float64Array } {
  if (kind === 'vision') {
    const r = rng(seed);
    const rows = Array.from({ length: S }, () => Math.floor(r() * 64));
    const cols = Array.from({ length: S }, () => Math.floor(r() * 64));
    const angles = visionRopeAngles(rows, cols, D);
    const inv = Array.from({ length: D / 4 }, (_, i) => 1 / 10000 ** ((2 * i) / (D / 2)));
    const emb: number[] = [];
    for (let s = 0; s < S; s++) {
      const e = [...inv.map((f) => rows[s]! * f), ...inv.map((f) => cols[s]! * f)];
      emb.push(...e, ...e);
    }
    return { angles, emb: Float64Array.from(emb) };
  }
  if (kind === 'mrope') {
    const p = [randomPositions(S, seed), randomPositions(S, seed + 1), randomPositions(S, seed + 2)];
    const sections: Record<number, number[]> = {
      8: [1, 1, 2],
      16: [2, 3, 3],
      80: [10, 15, 15],
      128: [16, 24, 24],
    };
    const section = sections[D]!;
    return {
      angles: mropeAngles(p as [number[], number[], number[]], D, 1e6, section),
      emb: mropeEmbRef(p, D, 1e6, section),
    };
  }
  const pos = randomPositions(S, seed, 40000);
  return { angles: ropeAngles1d(pos, D, 1e6), emb: rope1dEmbRef(pos, D, 1e6) };
}

describe('applyRope', () => {
  for (const [S, H, D, kind] of [
    [1, 1, 8, '1d'],
    [7, 2, 16, 'mrope'],
    [129, 12, 128, 'mrope'],
    [129, 2, 8, '1d'],
    [7, 12, 80, 'vision'],
    [129, 1, 80, 'vision'],
    [1, 12, 128, '1d'],
    [7, 1, 16, 'vision'],
  ] as const) {
    it(`forward and backward match float64 (S ${S}, H ${H}, head_dim ${D}, ${kind})`, async () => {
      const g = gpu();
      const { angles, emb } = anglesFor(kind, S, D, S * 31 + D);
      const { cos, sin } = cosSin(emb);
      const x = randomArray(S * H * D, 5 + S);
      const dy = randomArray(S * H * D, 6 + D);
      const table = ropeTable(g, angles, D);
      const xt = markTrainable(g.tensor(x, [S, H, D]));
      const tape = new Tape(g);
      const y = tape.run(() => applyRope(g, xt, table));
      expect(y.shape).toEqual([S, H, D]);
      expectClose(await g.read(y), applyRopeRef(x, cos, sin, S, H, D), { rtol: 0, atol: 2e-6 });
      const seed = g.tensor(dy, [S, H, D]);
      const grads = tape.backward(y, seed);
      // the transpose of a rotation is the rotation by the negative angle
      const negSin = sin.map((v) => -v);
      expectClose(await g.read(grads.get(xt)!), applyRopeRef(dy, cos, negSin, S, H, D), {
        rtol: 0,
        atol: 2e-6,
      });
      for (const t of [...grads.values(), table, xt, y, seed]) t.dispose();
      tape.dispose();
    });
  }

  for (const [S, H, D] of [
    [1, 1, 8],
    [7, 2, 8],
    [3, 1, 80],
    [2, 12, 8],
    [1, 1, 128],
  ] as const) {
    it(`gradients match finite differences (S ${S}, H ${H}, head_dim ${D})`, async () => {
      const { angles } = anglesFor('1d', S, D, 17 + S);
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(S * H * D, 8), shape: [S, H, D], grad: true },
          { data: ropeCosSin(angles, D / 2), shape: [S, D], grad: false },
        ],
        forward: (g, [x, table]) => applyRope(g, x!, table!),
        reference: tableRef(S, H, D),
      });
    });
  }

  it('rotates the k slice of packed qkv and sends its gradient back into that slice only', async () => {
    const [S, H, D] = [3, 2, 8];
    const W = 3 * H * D;
    const { angles } = anglesFor('mrope', S, D, 3);
    const ref = tableRef(S, H, D);
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(S * W, 9), shape: [S, W], grad: true },
        { data: ropeCosSin(angles, D / 2), shape: [S, D], grad: false },
      ],
      forward: (g, [x, table]) => {
        const y = applyRope(g, x!, table!, { heads: H, headDim: D, offset: H * D });
        expect(y.shape).toEqual([S, H, D]);
        return y;
      },
      reference: ([x, table]) => {
        const k = new Float64Array(S * H * D);
        for (let s = 0; s < S; s++) k.set(x!.subarray(s * W + H * D, s * W + 2 * H * D), s * H * D);
        return ref([k, table!]);
      },
    });
  });

  it('rotates q of a vision tower qkv row (4x6 patch grid, 16 heads of 80) with batch dims kept', async () => {
    const g = gpu();
    const [H, D] = [16, 80];
    const { rows, cols } = visionPatchPositions(1, 4, 6);
    const S = rows.length;
    const W = 3 * H * D;
    const x = randomArray(S * W, 10);
    const table = ropeTable(g, visionRopeAngles(rows, cols, D), D);
    const xt = g.tensor(x, [1, S, W]);
    const y = applyRope(g, xt, table, { heads: H, headDim: D });
    expect(y.shape).toEqual([1, S, H, D]);
    const q = new Float64Array(S * H * D);
    for (let s = 0; s < S; s++) q.set(x.subarray(s * W, s * W + H * D), s * H * D);
    const { cos, sin } = cosSin(visionEmbRef(1, 4, 6, 2, D, 10000));
    expectClose(await g.read(y), applyRopeRef(q, cos, sin, S, H, D), { rtol: 0, atol: 2e-6 });
    for (const t of [table, xt, y]) t.dispose();
  });

  it('rejects mismatched shapes with ShapeError', () => {
    const g = gpu();
    const x = g.tensor(new Float32Array(2 * 3 * 8), [2, 3, 8]);
    const t8 = ropeTable(g, ropeAngles1d([0, 1], 8), 8);
    const t16 = ropeTable(g, ropeAngles1d([0, 1], 16), 16);
    const t3 = ropeTable(g, ropeAngles1d([0, 1, 2], 8), 8);
    expect(() => applyRope(g, x, t16)).toThrow(ShapeError);
    expect(() => applyRope(g, x, t3)).toThrow(ShapeError);
    expect(() => applyRope(g, x, t8, { heads: 2, headDim: 8, offset: 16 })).toThrow(ShapeError);
    expect(() => applyRope(g, x, t8, { heads: 1, headDim: 7 })).toThrow(ShapeError);
    expect(() => applyRope(g, g.tensor([1, 2], [2]), t8)).toThrow(ShapeError);
    for (const t of [x, t8, t16, t3]) t.dispose();
  });
});

describe('ropeIntoCache (a decode step: RoPE of q and k, k and v into the KV cache)', () => {
  it('rotates q and k as float64 does and writes k and v at the position of their row, nothing else', async () => {
    const g = gpu();
    const [R, Hq, Hkv, D, maxLen] = [3, 4, 2, 8, 6];
    const { angles, emb } = anglesFor('1d', R, D, 77);
    const { cos, sin } = cosSin(emb);
    const [q, k, v] = [1, 2, 3].map((s, i) => randomArray(R * (i === 0 ? Hq : Hkv) * D, 40 + s));
    const at = [4, 0, 5];
    const sentinel = 7.5;
    const cacheSize = R * maxLen * Hkv * D;
    const keys = g.tensor(new Float32Array(cacheSize).fill(sentinel), [R, maxLen, Hkv, D]);
    const values = g.tensor(new Float32Array(cacheSize).fill(sentinel), [R, maxLen, Hkv, D]);
    const table = ropeTable(g, angles, D);
    const out = ropeIntoCache(
      g,
      g.tensor(q!, [R, Hq, D]),
      g.tensor(k!, [R, Hkv, D]),
      g.tensor(v!, [R, Hkv, D]),
      table,
      { keys, values },
      at,
    );
    expectClose(await g.read(out), applyRopeRef(q!, cos, sin, R, Hq, D), { rtol: 0, atol: 2e-6 });
    const kRot = applyRopeRef(k!, cos, sin, R, Hkv, D);
    const wantK = new Float64Array(cacheSize).fill(sentinel);
    const wantV = new Float64Array(cacheSize).fill(sentinel);
    const w = Hkv * D;
    for (let r = 0; r < R; r++) {
      wantK.set(kRot.subarray(r * w, (r + 1) * w), (r * maxLen + at[r]!) * w);
      wantV.set(v!.subarray(r * w, (r + 1) * w), (r * maxLen + at[r]!) * w);
    }
    expectClose(await g.read(keys), wantK, { rtol: 0, atol: 2e-6 });
    expectClose(await g.read(values), wantV, { rtol: 0, atol: 0 });
    expect(() =>
      ropeIntoCache(
        g,
        g.tensor(q!, [R, Hq, D]),
        g.tensor(k!, [R, Hkv, D]),
        g.tensor(v!, [R, Hkv, D]),
        table,
        { keys, values },
        [4, 0, 6],
      ),
    ).toThrow(ShapeError);
    expect(() =>
      ropeIntoCache(
        g,
        g.tensor(q!, [R, Hq, D]),
        g.tensor(k!, [R, Hkv, D]),
        g.tensor(k!, [R, Hkv, D]),
        table,
        { keys: values, values: out },
        at,
      ),
    ).toThrow(ShapeError);
  });
});
