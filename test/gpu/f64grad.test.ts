// The float64 reference autodiff is itself checked against finite differences, so that the end-to-end
// training test compares the GPU with something trustworthy.
import { describe, expect, it } from 'vitest';
import { randomArray } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';

function fdCheck(build: (xs: R.V[]) => R.V, inputs: { data: Float32Array; shape: number[] }[]): void {
  const leaves = inputs.map((x) => R.leaf(x.data, x.shape));
  const loss = build(leaves);
  R.backward(loss);
  const h = 1e-6;
  for (const v of leaves) {
    for (let i = 0; i < v.size; i++) {
      const orig = v.data[i]!;
      v.data[i] = orig + h;
      const up = build(leaves.map((l) => R.leaf(l.data, l.shape))).data[0]!;
      v.data[i] = orig - h;
      const down = build(leaves.map((l) => R.leaf(l.data, l.shape))).data[0]!;
      v.data[i] = orig;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(v.grad[i]! - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
    }
  }
}

/** A scalar from a tensor: sum of y * fixed weights, so every output element matters. */
function weighted(y: R.V): R.V {
  const w = randomArray(y.size, 77);
  return new R.V(Float64Array.of(y.data.reduce((a, v, i) => a + v * w[i]!, 0)), [1], [y], (self) => {
    for (let i = 0; i < y.size; i++) y.grad[i]! += self.grad[0]! * w[i]!;
  });
}

describe('float64 reference autodiff', () => {
  it('linear, rmsnorm, swiglu, add', () => {
    fdCheck(
      ([x, w, b, n, w2]) => {
        const h = R.rmsNorm(R.linear(x!, w!, b), n!);
        return weighted(R.add(R.swiglu(h, h), R.linear(h, w2!)));
      },
      [
        { data: randomArray(3 * 4, 1), shape: [3, 4] },
        { data: randomArray(5 * 4, 2), shape: [5, 4] },
        { data: randomArray(5, 3), shape: [5] },
        { data: randomArray(5, 4), shape: [5] },
        { data: randomArray(5 * 5, 5), shape: [5, 5] },
      ],
    );
  });

  it('rope, causal GQA attention, embedding and cross-entropy', () => {
    const angles = Float64Array.from(randomArray(4 * 2, 6, 3));
    fdCheck(
      ([q, k, v, t]) => {
        const qr = R.rope(q!, angles);
        const kr = R.rope(k!, angles);
        const a = R.causalAttention(qr, kr, v!);
        const logits = R.linear(
          new R.V(a.data, [4, 8], [a], (self) =>
            a.grad.forEach((_, i) => {
              a.grad[i]! += self.grad[i]!;
            }),
          ),
          t!,
        );
        const e = R.embed(t!, [1, 0, 2]);
        return R.add(R.crossEntropyMean(logits, [2, 0, 1, 2]), weighted(e));
      },
      [
        { data: randomArray(4 * 2 * 4, 7), shape: [4, 2, 4] },
        { data: randomArray(4 * 1 * 4, 8), shape: [4, 1, 4] },
        { data: randomArray(4 * 1 * 4, 9), shape: [4, 1, 4] },
        { data: randomArray(3 * 8, 10), shape: [3, 8] },
      ],
    );
  });
});
