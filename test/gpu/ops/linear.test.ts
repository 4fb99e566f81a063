// linear (x . W^T + b): forward against float64, gradients of x, W and b against finite differences,
// a frozen weight getting no gradient, and f16 weights in the forward. swigluLinear: silu(x . Wg^T) *
// (x . Wu^T) against float64 with the gate fused into the up projection (no tape), and its taped
// fallback's gradients against finite differences. linearPair: both products against float64 (one
// dispatch on CPU adapters), biases, f16 weights, K not a multiple of 4, the taped fallback's gradients.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { concat } from '../../../src/gpu/ops/layout.ts';
import { linear, linearPair, swigluLinear } from '../../../src/gpu/ops/linear.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

function linearRef(rows: number, inF: number, out: number, bias: boolean) {
  return ([x, w, b]: Float64Array[]) => {
    const y = new Float64Array(rows * out);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < out; o++) {
        let s = bias ? b![o]! : 0;
        for (let i = 0; i < inF; i++) s += x![r * inF + i]! * w![o * inF + i]!;
        y[r * out + o] = s;
      }
    return y;
  };
}

describe('linear', () => {
  for (const [rows, inF, out] of [
    [1, 1, 1],
    [7, 5, 3],
    [3, 16, 12],
    [13, 9, 17],
  ] as const) {
    it(`gradients of x, W and b match finite differences (${rows}x${inF} -> ${out})`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(rows * inF, 1), shape: [rows, inF], grad: true },
          { data: randomArray(out * inF, 2), shape: [out, inF], grad: true },
          { data: randomArray(out, 3), shape: [out], grad: true },
        ],
        forward: (g, [x, w, b]) => linear(g, x!, w!, b),
        reference: linearRef(rows, inF, out, true),
      });
    });
  }

  it('runs f16 weights (f32 activations) and refuses to train them', async () => {
    if (!gpu().hasF16) return;
    const [rows, inF, out] = [5, 12, 7];
    const x = randomArray(rows * inF, 6);
    const w = randomArray(out * inF, 7);
    const b = randomArray(out, 8);
    const wHalf = Float64Array.from(w, roundToHalf);
    const want = linearRef(rows, inF, out, true)([Float64Array.from(x), wHalf, Float64Array.from(b)]);
    const y = gpu().scope(() =>
      linear(gpu(), gpu().tensor(x, [rows, inF]), gpu().tensor(w, [out, inF], 'f16'), gpu().tensor(b, [out])),
    );
    expectClose(await gpu().read(y), want, { rtol: 1e-5, atol: 1e-6 });
    y.dispose();
    const tape = new Tape(gpu());
    const w16 = markTrainable(gpu().tensor(w, [out, inF], 'f16'));
    const xt = gpu().tensor(x, [rows, inF]);
    const y2 = tape.run(() => linear(gpu(), xt, w16));
    expect(() => tape.backward(y2)).toThrow(/f16 weight cannot be trained/);
    for (const t of [w16, xt, y2]) t.dispose();
    tape.dispose();
  });

  it('gives a frozen weight no gradient (LoRA base weights), batched input', async () => {
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(2 * 3 * 6, 4), shape: [2, 3, 6], grad: true },
        { data: randomArray(5 * 6, 5), shape: [5, 6], grad: false },
      ],
      forward: (g, [x, w]) => linear(g, x!, w!),
      reference: linearRef(6, 6, 5, false),
    });
  });
});

function swigluLinearRef(rows: number, inF: number, out: number) {
  return ([x, wg, wu]: Float64Array[]) => {
    const gate = linearRef(rows, inF, out, false)([x!, wg!]);
    const up = linearRef(rows, inF, out, false)([x!, wu!]);
    return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
  };
}

describe('swigluLinear', () => {
  for (const [rows, inF, out] of [
    [1, 1, 1],
    [8, 128, 384],
    [13, 9, 17],
  ] as const) {
    it(`matches float64 with the gate in the up projection's epilogue (${rows}x${inF} -> ${out})`, async () => {
      const x = randomArray(rows * inF, 20, 2);
      const wg = randomArray(out * inF, 21);
      const wu = randomArray(out * inF, 22);
      const y = gpu().scope(() =>
        swigluLinear(
          gpu(),
          gpu().tensor(x, [rows, inF]),
          gpu().tensor(wg, [out, inF]),
          gpu().tensor(wu, [out, inF]),
        ),
      );
      const f64 = [x, wg, wu].map((a) => Float64Array.from(a));
      const want = swigluLinearRef(rows, inF, out)(f64);
      // The size of the rounding: each factor's sum of |terms| times the other factor.
      const abs = f64.map((a) => a.map(Math.abs));
      const gate = linearRef(rows, inF, out, false)([f64[0]!, f64[1]!]);
      const up = linearRef(rows, inF, out, false)([f64[0]!, f64[2]!]);
      const magGate = linearRef(rows, inF, out, false)([abs[0]!, abs[1]!]);
      const magUp = linearRef(rows, inF, out, false)([abs[0]!, abs[2]!]);
      const magnitude = want.map(
        (_, i) => Math.abs(gate[i]! / (1 + Math.exp(-gate[i]!))) * magUp[i]! + Math.abs(up[i]!) * magGate[i]!,
      );
      expectClose(await gpu().read(y), want, { magnitude });
      y.dispose();
    });
  }

  it('runs on the tape as swiglu of two linears: gradients match finite differences', async () => {
    const [rows, inF, out] = [5, 6, 7];
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(rows * inF, 23), shape: [rows, inF], grad: true },
        { data: randomArray(out * inF, 24), shape: [out, inF], grad: true },
        { data: randomArray(out * inF, 25), shape: [out, inF], grad: false },
      ],
      forward: (g, [x, wg, wu]) => swigluLinear(g, x!, wg!, wu!),
      reference: swigluLinearRef(rows, inF, out),
    });
  });

  it('rejects gate and up weights of different shapes', () => {
    const g = gpu();
    g.scope(() => {
      const x = g.tensor(randomArray(6, 1), [2, 3]);
      expect(() => swigluLinear(g, x, g.empty([4, 3]), g.empty([5, 3]))).toThrow(/one shape/);
    });
  });
});

describe('linearPair', () => {
  for (const [rows, inF, out] of [
    [1, 1, 1],
    [8, 128, 64],
    [21, 13, 37],
  ] as const) {
    it(`gives both products of the float64 reference (${rows}x${inF} -> 2 x ${out}, with biases)`, async () => {
      const g = gpu();
      const x = randomArray(rows * inF, 50, 2);
      const [w1, w2] = [51, 52].map((seed) => randomArray(out * inF, seed));
      const [b1, b2] = [53, 54].map((seed) => randomArray(out, seed));
      const ys = g.scope(() =>
        linearPair(
          g,
          g.tensor(x, [rows, inF]),
          g.tensor(w1!, [out, inF]),
          g.tensor(w2!, [out, inF]),
          g.tensor(b1!, [out]),
          g.tensor(b2!, [out]),
        ),
      );
      const ref = linearRef(rows, inF, out, true);
      const f64 = (a: Float32Array) => Float64Array.from(a);
      expectClose(await g.read(ys[0]), ref([f64(x), f64(w1!), f64(b1!)]), { rtol: 1e-5, atol: 1e-5 });
      expectClose(await g.read(ys[1]), ref([f64(x), f64(w2!), f64(b2!)]), { rtol: 1e-5, atol: 1e-5 });
      for (const y of ys) y.dispose();
    });
  }

  it('equals two linears bit for bit, and reads f16 weights (when the adapter has shader-f16)', async () => {
    const g = gpu();
    const [rows, inF, out] = [9, 22, 40];
    const x = g.tensor(randomArray(rows * inF, 55), [rows, inF]);
    for (const dtype of g.hasF16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const w1 = g.tensor(randomArray(out * inF, 56), [out, inF], dtype);
      const w2 = g.tensor(randomArray(out * inF, 57), [out, inF], dtype);
      const pair = g.scope(() => linearPair(g, x, w1, w2));
      const apart = g.scope(() => [linear(g, x, w1), linear(g, x, w2)]);
      for (let i = 0; i < 2; i++) expect(await g.read(pair[i]!)).toEqual(await g.read(apart[i]!));
      for (const t of [...pair, ...apart, w1, w2]) t.dispose();
    }
    x.dispose();
  });

  it('runs on the tape as two linears: gradients match finite differences', async () => {
    const [rows, inF, out] = [4, 5, 3];
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(rows * inF, 58), shape: [rows, inF], grad: true },
        { data: randomArray(out * inF, 59), shape: [out, inF], grad: true },
        { data: randomArray(out * inF, 60), shape: [out, inF], grad: true },
      ],
      forward: (g, [x, w1, w2]) => concat(g, linearPair(g, x!, w1!, w2!), 0),
      reference: ([x, w1, w2]) => {
        const ref = linearRef(rows, inF, out, false);
        return Float64Array.from([...ref([x!, w1!]), ...ref([x!, w2!])]);
      },
    });
  });

  it('rejects weights of different shapes and a lone bias', () => {
    const g = gpu();
    g.scope(() => {
      const x = g.tensor(randomArray(6, 1), [2, 3]);
      expect(() => linearPair(g, x, g.empty([4, 3]), g.empty([5, 3]))).toThrow(/one shape/);
      expect(() => linearPair(g, x, g.empty([4, 3]), g.empty([4, 3]), g.empty([4]))).toThrow(/both biases/);
    });
  });
});
