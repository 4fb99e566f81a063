// attention (flash-style, GQA, causal / varlen / key padding), each kernel family this adapter runs
// (general, and with subgroups the subgroup one of CPU adapters and the quad one of GPUs): forward against a float64 reference that
// materialises the full matrix, gradients of q, k and v against finite differences on small shapes,
// fully masked rows (zero output and gradients, no NaN), and forward plus analytic float64 gradients at
// S 129 and D 64 / 36 / 128 where several query blocks and key tiles are in play.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { type AttentionOptions, type AttentionPath, attention } from '../../../src/gpu/ops/attention.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { type AttnShape, attentionGradRef, attentionRef } from '../../reference/attention.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

const PATHS: AttentionPath[] = ['general', 'subgroup', 'quad'];

/** Whether this adapter runs `path`: the subgroup kernels need subgroups of 8 or more lanes, quad ones 4. */
function runs(path: AttentionPath): boolean {
  const g = gpu();
  if (path === 'general') return true;
  return g.hasSubgroups && g.adapter.subgroupMinSize >= (path === 'subgroup' ? 8 : 4);
}

type MaskKind = 'causal' | 'bidirectional' | 'varlen' | 'varlen-causal' | 'padding' | 'padding-causal';

function maskOpts(kind: MaskKind, S: number): AttentionOptions {
  switch (kind) {
    case 'causal':
      return { causal: true };
    case 'bidirectional':
      return { causal: false };
    case 'varlen':
      return { causal: false, cuSeqlens: Int32Array.from([0, 3, 8, 13]) };
    case 'varlen-causal':
      return { causal: true, cuSeqlens: Int32Array.from([0, 3, 8, 13]) };
    case 'padding':
    case 'padding-causal': {
      // Pad every third key, but never key 0 (that case has its own test).
      const pad = Uint8Array.from({ length: S }, (_, j) => (j % 3 === 2 ? 1 : 0));
      return { causal: kind === 'padding-causal', keyPadding: pad };
    }
  }
}

async function gradCase(sh: AttnShape, opts: AttentionOptions, seed: number) {
  for (const path of PATHS) if (runs(path)) await gradCaseOn(sh, { ...opts, path }, seed);
}

async function gradCaseOn(sh: AttnShape, opts: AttentionOptions, seed: number) {
  const { S, Hq, Hkv, D } = sh;
  await checkGradients(gpu(), {
    inputs: [
      { data: randomArray(S * Hq * D, seed), shape: [S, Hq, D], grad: true },
      { data: randomArray(S * Hkv * D, seed + 1), shape: [S, Hkv, D], grad: true },
      { data: randomArray(S * Hkv * D, seed + 2), shape: [S, Hkv, D], grad: true },
    ],
    forward: (g, [q, k, v]) => attention(g, q!, k!, v!, opts),
    reference: ([q, k, v]) => attentionRef(q!, k!, v!, sh, opts),
    seed: seed + 3,
  });
}

describe('attention gradients (finite differences)', () => {
  const shapes: [number, number, number, number][] = [
    // S, D, Hq, Hkv
    [1, 4, 2, 2],
    [5, 8, 2, 1],
    [13, 4, 6, 1],
    [13, 8, 2, 2],
  ];
  let seed = 10;
  for (const kind of ['causal', 'bidirectional', 'padding', 'padding-causal'] as const) {
    for (const [S, D, Hq, Hkv] of shapes) {
      seed += 10;
      const s = seed;
      it(`${kind}: S ${S}, D ${D}, Hq/Hkv ${Hq}/${Hkv}`, async () => {
        await gradCase({ S, Hq, Hkv, D }, maskOpts(kind, S), s);
      });
    }
  }
  for (const kind of ['varlen', 'varlen-causal'] as const) {
    for (const [D, Hq, Hkv] of [
      [8, 2, 1],
      [4, 6, 1],
      [8, 2, 2],
    ] as const) {
      seed += 10;
      const s = seed;
      it(`${kind} (cu_seqlens 0,3,8,13): D ${D}, Hq/Hkv ${Hq}/${Hkv}`, async () => {
        await gradCase({ S: 13, Hq, Hkv, D }, maskOpts(kind, 13), s);
      });
    }
  }

  it('varlen with padding and a custom scale', async () => {
    const pad = new Uint8Array(13);
    pad[4] = 1;
    pad[9] = 1;
    pad[12] = 1;
    await gradCase(
      { S: 13, Hq: 2, Hkv: 1, D: 8 },
      { causal: false, cuSeqlens: [0, 3, 8, 13], keyPadding: pad, scale: 0.7 },
      500,
    );
  });
});

describe('attention with fully masked rows', () => {
  it('gives zero output and zero gradients (no NaN) for rows with no key, and passes a gradient check', async () => {
    for (const path of PATHS) if (runs(path)) await maskedRows(path);
  });

  async function maskedRows(path: AttentionPath) {
    const g = gpu();
    const sh = { S: 13, Hq: 6, Hkv: 1, D: 4 };
    // The first sequence's keys are all padded: queries 0..2 attend nothing. Causal: query 3 sees only
    // key 3, which is padded too.
    const pad = [true, true, true, true, false, false, false, false, false, false, false, false, false];
    const opts: AttentionOptions = { causal: true, cuSeqlens: [0, 3, 13], keyPadding: pad, path };
    await gradCaseOn(sh, opts, 600);

    const q = markTrainable(g.tensor(randomArray(13 * 6 * 4, 601), [13, 6, 4]));
    const k = markTrainable(g.tensor(randomArray(13 * 4, 602), [13, 1, 4]));
    const v = markTrainable(g.tensor(randomArray(13 * 4, 603), [13, 1, 4]));
    const tape = new Tape(g);
    const y = tape.run(() => attention(g, q, k, v, opts));
    const grads = tape.backward(y, g.tensor(randomArray(13 * 6 * 4, 604), [13, 6, 4]));
    const out = await g.read(y);
    const dq = await g.read(grads.get(q)!);
    const dk = await g.read(grads.get(k)!);
    const dv = await g.read(grads.get(v)!);
    for (const a of [out, dq, dk, dv]) expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(out.subarray(0, 4 * 6 * 4)).every((x) => x === 0)).toBe(true);
    expect(Array.from(dq.subarray(0, 4 * 6 * 4)).every((x) => x === 0)).toBe(true);
    expect(Array.from(dk.subarray(0, 4 * 4)).every((x) => x === 0)).toBe(true);
    expect(Array.from(dv.subarray(0, 4 * 4)).every((x) => x === 0)).toBe(true);
    expect(Array.from(out.subarray(4 * 6 * 4)).some((x) => x !== 0)).toBe(true);
    for (const t of grads.values()) t.dispose();
    for (const t of [q, k, v, y]) t.dispose();
    tape.dispose();
  }

  it('gives zeros when every key is padded', async () => {
    const g = gpu();
    const q = g.tensor(randomArray(5 * 2 * 8, 700), [5, 2, 8]);
    const k = g.tensor(randomArray(5 * 8, 701), [5, 1, 8]);
    for (const path of PATHS.filter(runs)) {
      const y = attention(g, q, k, k, { causal: false, keyPadding: new Uint8Array(5).fill(1), path });
      expect(Array.from(await g.read(y)).every((x) => x === 0)).toBe(true);
      y.dispose();
    }
    for (const t of [q, k]) t.dispose();
  });
});

describe('attention at S 129 (several blocks and tiles)', () => {
  // The number is the query heads per kv head; `rising` makes the logits climb along the keys.
  const cases: [string, AttentionOptions, number, { rising?: boolean }?][] = [
    ['causal', { causal: true }, 1],
    ['bidirectional, large logits', { causal: false, scale: 2 }, 1],
    [
      'varlen with padding',
      {
        causal: false,
        cuSeqlens: [0, 40, 41, 100, 129],
        keyPadding: Uint8Array.from({ length: 129 }, (_, j) => (j % 7 === 3 || j === 40 ? 1 : 0)),
      },
      1,
    ],
    ['varlen causal, GQA 6 query heads per kv head', { causal: true, cuSeqlens: [0, 70, 129] }, 6],
    ['causal, GQA 2, logits rising by 0.5 a key', { causal: true }, 2, { rising: true }],
  ];
  const dims: [number, number][] = [
    // D, Hkv: one, several and the largest vec4 column count per lane, one with idle lanes.
    [64, 1],
    [36, 1],
    [128, 2],
  ];
  for (const path of PATHS)
    for (const [D, Hkv] of dims)
      for (const [name, opts, Hq, data] of cases) {
        it(`${path}, D ${D}, Hkv ${Hkv}, ${name}: forward and analytic gradients`, async (ctx) => {
          if (!runs(path)) ctx.skip();
          await longCase({ S: 129, Hq: Hq * Hkv, Hkv, D }, { ...opts, path }, data?.rising ?? false);
        });
      }

  async function longCase(sh: AttnShape, opts: AttentionOptions, rising: boolean) {
    const g = gpu();
    const { S, Hq, Hkv, D } = sh;
    const qd = randomArray(S * Hq * D, 800);
    const kd = randomArray(S * Hkv * D, 801);
    const vd = randomArray(S * Hkv * D, 802);
    const gd = randomArray(S * Hq * D, 803);
    if (rising) {
      // Every key tile passes the running maximum by far more than the online softmax's rescaling
      // threshold, so accumulators are rescaled after they hold earlier tiles.
      const scale = opts.scale ?? 1 / Math.sqrt(D);
      for (let i = 0; i < S * Hq; i++) qd[i * D] = 1;
      for (let j = 0; j < S * Hkv; j++) kd[j * D] = (0.5 * Math.floor(j / Hkv)) / scale;
    }
    const q = markTrainable(g.tensor(qd, [S, Hq, D]));
    const k = markTrainable(g.tensor(kd, [S, Hkv, D]));
    const v = markTrainable(g.tensor(vd, [S, Hkv, D]));
    const tape = new Tape(g);
    const y = tape.run(() => attention(g, q, k, v, opts));
    const grads = tape.backward(y, g.tensor(gd, y.shape));
    // Logits up to 64 carry f32 rounding a few times that of the random cases into the probabilities.
    const atol = rising ? 1e-4 : 2e-5;
    const ref = attentionRef(qd, kd, vd, sh, opts);
    expectClose(await g.read(y), ref, { rtol: 0, atol });
    const gr = attentionGradRef(qd, kd, vd, gd, sh, opts);
    for (const [t, want] of [
      [q, gr.dq],
      [k, gr.dk],
      [v, gr.dv],
    ] as const) {
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expectClose(await g.read(grads.get(t)!), want, { rtol: 0, atol: atol * scale });
    }
    for (const t of grads.values()) t.dispose();
    for (const t of [q, k, v, y]) t.dispose();
    tape.dispose();
  }

  it('the analytic reference gradients agree with finite differences', () => {
    const sh = { S: 6, Hq: 2, Hkv: 1, D: 3 };
    const opts = { causal: true, keyPadding: [0, 0, 1, 0, 0, 0] };
    const q = Float64Array.from(randomArray(36, 900));
    const k = Float64Array.from(randomArray(18, 901));
    const v = Float64Array.from(randomArray(18, 902));
    const gy = randomArray(36, 903);
    const loss = () => attentionRef(q, k, v, sh, opts).reduce((s, x, i) => s + x * gy[i]!, 0);
    const gr = attentionGradRef(q, k, v, gy, sh, opts);
    for (const [x, want] of [
      [q, gr.dq],
      [k, gr.dk],
      [v, gr.dv],
    ] as const) {
      const fd = new Float64Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const o = x[j]!;
        x[j] = o + 1e-5;
        const up = loss();
        x[j] = o - 1e-5;
        fd[j] = (up - loss()) / 2e-5;
        x[j] = o;
      }
      expectClose(want, fd, { rtol: 0, atol: 1e-7 });
    }
  });
});

describe('attention argument checks', () => {
  it('rejects mismatched shapes and masks', () => {
    const g = gpu();
    const q = g.tensor(randomArray(5 * 3 * 4, 1), [5, 3, 4]);
    const k = g.tensor(randomArray(5 * 2 * 4, 2), [5, 2, 4]);
    const k1 = g.tensor(randomArray(5 * 4, 3), [5, 1, 4]);
    expect(() => attention(g, q, k, k, { causal: true })).toThrow(ShapeError);
    expect(() => attention(g, q, k1, k1, { causal: true, cuSeqlens: [0, 3] })).toThrow(ShapeError);
    expect(() => attention(g, q, k1, k1, { causal: true, keyPadding: [true] })).toThrow(ShapeError);
    const odd = g.tensor(randomArray(5 * 3, 4), [5, 1, 3]);
    expect(() => attention(g, odd, odd, odd, { causal: true, path: 'subgroup' })).toThrow(/divisible by 4/);
    odd.dispose();
    for (const t of [q, k, k1]) t.dispose();
  });
});
