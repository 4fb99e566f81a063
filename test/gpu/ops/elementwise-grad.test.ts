// Autograd of add, mul and scale: gradients against finite differences of float64 references, with b
// broadcast over leading dimensions (its gradient sums over them), frozen operands getting no gradient,
// and a residual block where one tensor feeds several ops.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import { add } from '../../../src/gpu/ops/add.ts';
import { mul } from '../../../src/gpu/ops/mul.ts';
import { scale } from '../../../src/gpu/ops/scale.ts';
import { randomArray, setupGpu } from '../../helpers.ts';
import { broadcastRef } from '../../reference/elementwise.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

const SHAPES: [number[], number[]][] = [
  [[1], [1]],
  [[7], [7]],
  [[129], [129]],
  [[5, 7], [7]],
  [
    [2, 3, 4],
    [3, 4],
  ],
  [[129, 1], [1]],
  [[1, 6], [6]],
];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('add / mul / scale gradients', () => {
  for (const [sa, sb] of SHAPES) {
    it(`add [${sa}] + [${sb}]`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(size(sa), 1), shape: sa, grad: true },
          { data: randomArray(size(sb), 2), shape: sb, grad: true },
        ],
        forward: (g, [a, b]) => {
          const out = add(g, a!, b!);
          expect(out.shape).toEqual(sa);
          return out;
        },
        reference: ([a, b]) => broadcastRef(a!, b!, (x, y) => x + y),
      });
    });
    it(`mul [${sa}] * [${sb}]`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(size(sa), 3, 2), shape: sa, grad: true },
          { data: randomArray(size(sb), 4, 2), shape: sb, grad: true },
        ],
        forward: (g, [a, b]) => mul(g, a!, b!),
        reference: ([a, b]) => broadcastRef(a!, b!, (x, y) => x * y),
      });
    });
  }

  for (const frozen of [0, 1]) {
    it(`mul and add with operand ${frozen} frozen (broadcast)`, async () => {
      await checkGradients(gpu(), {
        inputs: [
          { data: randomArray(35, 5), shape: [5, 7], grad: frozen !== 0 },
          { data: randomArray(7, 6), shape: [7], grad: frozen !== 1 },
        ],
        forward: (g, [a, b]) => add(g, mul(g, a!, b!), b!),
        reference: ([a, b]) => broadcastRef(a!, b!, (x, y) => x * y + y),
      });
    });
  }

  it('scale', async () => {
    await checkGradients(gpu(), {
      inputs: [{ data: randomArray(129, 7), shape: [3, 43], grad: true }],
      forward: (g, [a]) => scale(g, a!, -1.75),
      reference: ([a]) => a!.map((v) => -1.75 * v),
    });
  });

  it('a residual block: y = x + scale(x * w, 0.5) * x, gradients accumulate over the uses of x', async () => {
    await checkGradients(gpu(), {
      inputs: [
        { data: randomArray(4 * 9, 8), shape: [4, 9], grad: true },
        { data: randomArray(9, 9), shape: [9], grad: true },
      ],
      forward: (g, [x, w]) => add(g, x!, mul(g, scale(g, mul(g, x!, w!), 0.5), x!)),
      reference: ([x, w]) => x!.map((v, i) => v + 0.5 * v * w![i % 9]! * v),
    });
  });

  it('records nothing when no input needs a gradient', () => {
    const g = gpu();
    const a = g.tensor([1, 2], [2]);
    const tape = new Tape(g);
    const out = tape.run(() => scale(g, add(g, a, mul(g, a, a)), 3));
    expect(tape.size).toBe(0);
    tape.dispose();
    out.dispose();
    a.dispose();
  });
});
