// ropeAttendDecode (a decode step's RoPE, KV-cache write and attention): outputs against a float64
// reference and caches against the expected writes, over query heads per kv head 1 to 8, head dims 4 to
// 128, rows at position 0 and at the end of the cache, cache entries past a row's position never read;
// the one-dispatch kernel equal bit for bit to ropeIntoCache followed by attentionDecode; shapes the
// kernel does not hold taking the two ops.
import { describe, expect, it } from 'vitest';
import { attentionDecode, ropeAttendDecode } from '../../../src/gpu/ops/attention-decode.ts';
import { ropeIntoCache, ropeTable } from '../../../src/gpu/ops/rope.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';

const gpu = setupGpu();

interface Case {
  R: number;
  Hq: number;
  Hkv: number;
  D: number;
  maxLen: number;
  at: number[];
}

const CASES: Case[] = [
  { R: 8, Hq: 4, Hkv: 2, D: 32, maxLen: 113, at: [80, 81, 90, 100, 0, 112, 33, 64] },
  { R: 2, Hq: 12, Hkv: 2, D: 128, maxLen: 70, at: [69, 5] },
  { R: 3, Hq: 3, Hkv: 3, D: 4, maxLen: 40, at: [0, 39, 17] },
  { R: 2, Hq: 8, Hkv: 1, D: 64, maxLen: 50, at: [31, 32] },
  { R: 2, Hq: 6, Hkv: 2, D: 36, maxLen: 20, at: [19, 7] },
  // Over the one-dispatch kernel's limits: the two ops run.
  { R: 1, Hq: 2, Hkv: 1, D: 256, maxLen: 10, at: [9] },
  { R: 1, Hq: 12, Hkv: 1, D: 8, maxLen: 10, at: [4] },
];

function inputs(c: Case, seed: number) {
  const { R, Hq, Hkv, D, maxLen, at } = c;
  const cacheSize = R * maxLen * Hkv * D;
  const keys = randomArray(cacheSize, seed, 2);
  const values = randomArray(cacheSize, seed + 1);
  // Entries past a row's new position must never be read.
  for (let r = 0; r < R; r++)
    for (let j = at[r]! + 1; j < maxLen; j++)
      for (let e = 0; e < Hkv * D; e++) {
        keys[(r * maxLen + j) * Hkv * D + e] = Number.NaN;
        values[(r * maxLen + j) * Hkv * D + e] = Number.NaN;
      }
  return {
    q: randomArray(R * Hq * D, seed + 2, 2),
    k: randomArray(R * Hkv * D, seed + 3, 2),
    v: randomArray(R * Hkv * D, seed + 4),
    angles: randomArray((R * D) / 2, seed + 5, 20),
    keys,
    values,
  };
}

/** Rotated q and k, the caches with the new rows written, and the attention output, in float64. */
function reference(c: Case, x: ReturnType<typeof inputs>, table: Float32Array) {
  const { R, Hq, Hkv, D, maxLen, at } = c;
  const half = D / 2;
  const rotate = (src: Float32Array, heads: number) => {
    const out = new Float64Array(src.length);
    for (let r = 0; r < R; r++)
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < half; i++) {
          const [cs, sn] = [table[r * D + i]!, table[r * D + half + i]!];
          const base = (r * heads + h) * D;
          const [a, b] = [src[base + i]!, src[base + half + i]!];
          out[base + i] = a * cs - b * sn;
          out[base + half + i] = b * cs + a * sn;
        }
    return out;
  };
  const qr = rotate(x.q, Hq);
  const kr = rotate(x.k, Hkv);
  const keys = Float64Array.from(x.keys);
  const values = Float64Array.from(x.values);
  const w = Hkv * D;
  for (let r = 0; r < R; r++) {
    keys.set(kr.subarray(r * w, (r + 1) * w), (r * maxLen + at[r]!) * w);
    values.set(x.v.subarray(r * w, (r + 1) * w), (r * maxLen + at[r]!) * w);
  }
  const out = new Float64Array(R * Hq * D);
  const scale = 1 / Math.sqrt(D);
  for (let r = 0; r < R; r++)
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor((h * Hkv) / Hq);
      const s: number[] = [];
      for (let j = 0; j <= at[r]!; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++)
          dot += qr[(r * Hq + h) * D + d]! * keys[((r * maxLen + j) * Hkv + kh) * D + d]!;
        s.push(dot * scale);
      }
      const m = Math.max(...s);
      const e = s.map((y) => Math.exp(y - m));
      const z = e.reduce((a, y) => a + y, 0);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < e.length; j++) acc += e[j]! * values[((r * maxLen + j) * Hkv + kh) * D + d]!;
        out[(r * Hq + h) * D + d] = acc / z;
      }
    }
  return { out, keys, values };
}

describe('ropeAttendDecode', () => {
  for (const c of CASES) {
    const name = `rows ${c.R}, heads ${c.Hq}/${c.Hkv}, D ${c.D}, positions [${c.at}]`;
    it(`rotates, writes the caches and attends as float64 does (${name})`, async () => {
      const g = gpu();
      const x = inputs(c, c.D + c.Hq);
      const { R, Hq, Hkv, D, maxLen, at } = c;
      const table = ropeTable(g, x.angles, D);
      const caches = {
        keys: g.tensor(x.keys, [R, maxLen, Hkv, D]),
        values: g.tensor(x.values, [R, maxLen, Hkv, D]),
      };
      const out = ropeAttendDecode(
        g,
        g.tensor(x.q, [R, Hq, D]),
        g.tensor(x.k, [R, Hkv, D]),
        g.tensor(x.v, [R, Hkv, D]),
        table,
        caches,
        at,
      );
      const want = reference(c, x, (await g.read(table)) as Float32Array);
      expectClose(await g.read(out), want.out, { rtol: 1e-5, atol: 2e-6 });
      // The NaNs past each row's position stay where they were.
      const marked = (a: ArrayLike<number>) => Array.from(a, (y) => (Number.isNaN(y) ? 1e30 : y));
      expectClose(marked(await g.read(caches.keys)), marked(want.keys), { rtol: 0, atol: 2e-6 });
      expectClose(marked(await g.read(caches.values)), marked(want.values), { rtol: 0, atol: 0 });
      for (const t of [out, table, caches.keys, caches.values]) t.dispose();
    });
  }

  it('equals ropeIntoCache then attentionDecode bit for bit (output and caches)', async () => {
    const g = gpu();
    for (const c of CASES.slice(0, 2)) {
      const x = inputs(c, 99);
      const { R, Hq, Hkv, D, maxLen, at } = c;
      const run = async (fused: boolean) =>
        g.scopeAsync(async () => {
          const table = ropeTable(g, x.angles, D);
          const caches = {
            keys: g.tensor(x.keys, [R, maxLen, Hkv, D]),
            values: g.tensor(x.values, [R, maxLen, Hkv, D]),
          };
          const [q, k, v] = [
            g.tensor(x.q, [R, Hq, D]),
            g.tensor(x.k, [R, Hkv, D]),
            g.tensor(x.v, [R, Hkv, D]),
          ];
          const out = fused
            ? ropeAttendDecode(g, q, k, v, table, caches, at)
            : attentionDecode(
                g,
                ropeIntoCache(g, q, k, v, table, caches, at),
                caches.keys,
                caches.values,
                at.map((n) => n + 1),
              );
          return [await g.read(out), await g.read(caches.keys), await g.read(caches.values)];
        });
      const [a, b] = [await run(true), await run(false)];
      for (let i = 0; i < 3; i++) expect(a[i]).toEqual(b[i]);
    }
  });

  it('rejects a position outside the cache', () => {
    const g = gpu();
    g.scope(() => {
      const t = (...shape: number[]) => g.empty(shape);
      const caches = { keys: t(1, 4, 1, 8), values: t(1, 4, 1, 8) };
      expect(() => ropeAttendDecode(g, t(1, 2, 8), t(1, 1, 8), t(1, 1, 8), t(1, 8), caches, [4])).toThrow(
        /positions in \[0, 4\)/,
      );
    });
  });
});
