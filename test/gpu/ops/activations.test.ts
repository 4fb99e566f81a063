// SiLU, SwiGLU and GELU (exact / tanh / quick): forward against float64 references on a dense sweep and
// on edge values (0, tiny, +-80 where a naive exp overflows), the exact GELU's erf to 1e-6, backward
// against finite differences (checkGradients) and against analytic derivatives at the edge values.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import type { Gpu } from '../../../src/gpu/context.ts';
import { type GeluKind, gelu, silu, swiglu } from '../../../src/gpu/ops/activations.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import * as ref from '../../reference/activations.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();
const KINDS: GeluKind[] = ['exact', 'tanh', 'quick'];

const EDGES = [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, 80, -80, 30, -30, 12, -12, 200, -200];

/** A dense sweep of [-10, 10] plus the edge values, rounded to float32. */
function sweep(): Float32Array {
  const xs: number[] = [];
  for (let i = 0; i <= 2000; i++) xs.push(-10 + i / 100);
  return Float32Array.from([...xs, ...EDGES]);
}

async function run(op: (g: Gpu, x: Tensor) => Tensor, xs: Float32Array): Promise<Float32Array> {
  const g = gpu();
  const x = g.tensor(xs, [xs.length]);
  const y = op(g, x);
  const out = (await g.read(y)) as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

describe('float64 reference erf', () => {
  it('matches tabulated values', () => {
    const table: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
    ];
    for (const [z, e] of table) {
      expect(Math.abs(ref.erf(z) - e)).toBeLessThan(1e-14);
      expect(Math.abs(ref.erf(-z) + e)).toBeLessThan(1e-14);
    }
    expect(Math.abs(ref.erfc(4) / 1.541725790028002e-8 - 1)).toBeLessThan(1e-12);
    expect(Math.abs(ref.erfc(10) / 2.088487583762545e-45 - 1)).toBeLessThan(1e-12);
  });
});

describe('activations forward', () => {
  it('exact GELU has erf accurate to 1e-6 absolute', async () => {
    const xs = sweep();
    const got = await run((g, x) => gelu(g, x, 'exact'), xs);
    // gelu = x/2 (1 + erf(x/sqrt2)): an erf error e moves it by |x| e / 2; allow e = 1e-6 plus rounding.
    const expected = ref.mapRef(xs, (x) => ref.gelu(x, 'exact'));
    let worstErf = 0;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      if (Math.abs(x) < 1e-3) continue;
      const erfGot = (2 * got[i]!) / x - 1;
      worstErf = Math.max(
        worstErf,
        Math.abs(erfGot - ref.erf(x / Math.SQRT2)) - 2 ** -23 * Math.abs((2 * expected[i]!) / x),
      );
    }
    expect(worstErf).toBeLessThan(1e-6);
  });

  for (const kind of KINDS) {
    it(`GELU ${kind} matches the reference on a sweep and edge values`, async () => {
      const xs = sweep();
      const got = await run((g, x) => gelu(g, x, kind), xs);
      // Relative accuracy holds in the lower tail too (no 1 + (-1) cancellation), within the f32 rounding
      // of the exponent argument (about x^2 ulps) for exact and tanh.
      const expected = ref.mapRef(xs, (x) => ref.gelu(x, kind));
      const magnitude = expected.map(
        (e, i) => Math.abs(e) * (kind === 'quick' ? 1 : Math.max(1, xs[i]! ** 2)),
      );
      expectClose(got, expected, { rtol: 2e-6, atol: 1e-37, magnitude });
      const i80 = xs.indexOf(80);
      expect(got[i80]).toBe(80);
      expect(got[i80 + 1]).toBe(-0);
      for (const v of got) expect(Number.isFinite(v)).toBe(true);
    });
  }

  it('SiLU matches the reference on a sweep and edge values', async () => {
    const xs = sweep();
    const got = await run((g, x) => silu(g, x), xs);
    expectClose(got, ref.mapRef(xs, ref.silu), { rtol: 2e-6, atol: 1e-37 });
    expect(got[xs.indexOf(200)]).toBe(200);
    for (const v of got) expect(Number.isFinite(v)).toBe(true);
  });

  it('SwiGLU matches silu(gate) * up, and rejects mismatched shapes', async () => {
    const g = gpu();
    const gate = sweep();
    const up = randomArray(gate.length, 3, 4);
    const tg = g.tensor(gate, [gate.length]);
    const tu = g.tensor(up, [up.length]);
    const y = swiglu(g, tg, tu);
    expectClose(await g.read(y), ref.swigluRef(gate, up), { rtol: 3e-6, atol: 1e-37 });
    const other = g.tensor([1, 2], [2]);
    expect(() => swiglu(g, tg, other)).toThrow(/one shape/);
    for (const t of [tg, tu, y, other]) t.dispose();
  });
});

describe('activations backward', () => {
  for (const n of [1, 7, 129]) {
    for (const kind of KINDS) {
      it(`GELU ${kind} gradient matches finite differences (n=${n})`, async () => {
        await checkGradients(gpu(), {
          inputs: [{ data: randomArray(n, n + 10, 5), shape: [n], grad: true }],
          forward: (g, [x]) => gelu(g, x!, kind),
          reference: ([x]) => ref.mapRef(x!, (v) => ref.gelu(v, kind)),
        });
      });
    }
    it(`SiLU gradient matches finite differences (n=${n})`, async () => {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(n, n + 20, 6), shape: [n], grad: true }],
        forward: (g, [x]) => silu(g, x!),
        reference: ([x]) => ref.mapRef(x!, ref.silu),
      });
    });
  }

  for (const [gGrad, uGrad] of [
    [true, true],
    [true, false],
    [false, true],
  ] as const) {
    it(`SwiGLU gradients (gate ${gGrad ? 'trained' : 'frozen'}, up ${uGrad ? 'trained' : 'frozen'})`, async () => {
      const shape = [7, 19];
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(133, 31, 5), shape, grad: gGrad },
          { data: randomArray(133, 32, 2), shape, grad: uGrad },
        ],
        forward: (g, [a, b]) => swiglu(g, a!, b!),
        reference: ([a, b]) => ref.swigluRef(a!, b!),
      });
    });
  }

  it('gradients at edge values match the analytic derivatives', async () => {
    const g = gpu();
    const xs = Float32Array.from(EDGES);
    const dy = randomArray(xs.length, 7, 1);
    const cases: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
      ['silu', (x) => silu(g, x), ref.siluGrad],
      ...KINDS.map((k): [string, (x: Tensor) => Tensor, (x: number) => number] => [
        k,
        (x) => gelu(g, x, k),
        (v) => ref.geluGrad(v, k),
      ]),
    ];
    for (const [name, op, grad] of cases) {
      const x = markTrainable(g.tensor(xs, [xs.length]));
      const seed = g.tensor(dy, [dy.length]);
      const tape = new Tape(g);
      const y = tape.run(() => op(x));
      const dx = tape.backward(y, seed).get(x)!;
      const got = await g.read(dx);
      for (const v of got) expect(Number.isFinite(v), name).toBe(true);
      expectClose(
        got,
        Float64Array.from(xs, (v, i) => dy[i]! * grad(v)),
        { rtol: 1e-5, atol: 1e-30 },
      );
      for (const t of [x, seed, y, dx]) t.dispose();
      tape.dispose();
    }
  });
});
