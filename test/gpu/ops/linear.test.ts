// linear (x . W^T + b): forward against float64, gradients of x, W and b against finite differences,
// a frozen weight getting no gradient, and f16 weights in the forward.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../../src/gpu/autograd.ts';
import { linear } from '../../../src/gpu/ops/linear.ts';
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
