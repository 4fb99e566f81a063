// The autograd tape: chains of ops, gradient accumulation across micro-batches, no-grad mode,
// recomputation (checkpoint) giving the same gradients, and every temporary released at the end.
import { describe, expect, it } from 'vitest';
import { accumulateGrads, checkpoint, markTrainable, noGrad, Tape } from '../../src/gpu/autograd.ts';
import { linear } from '../../src/gpu/ops/linear.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { expectClose, randomArray, setupGpu } from '../helpers.ts';

const gpu = setupGpu();

/** Two stacked linear layers: y = (x W1^T + b1) W2^T. */
function block(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor): Tensor {
  const h = linear(gpu(), x, w1, b1);
  const y = linear(gpu(), h, w2);
  h.dispose();
  return y;
}

function params() {
  return {
    w1: markTrainable(gpu().tensor(randomArray(6 * 5, 1), [6, 5])),
    b1: markTrainable(gpu().tensor(randomArray(6, 2), [6])),
    w2: markTrainable(gpu().tensor(randomArray(3 * 6, 3), [3, 6])),
  };
}

async function gradsOf(
  x: Tensor,
  p: ReturnType<typeof params>,
  recompute: false | 'listed' | 'found',
): Promise<{ grads: Map<Tensor, Tensor>; tape: Tape }> {
  const tape = new Tape(gpu());
  const params = recompute === 'listed' ? [p.w1, p.b1, p.w2] : undefined;
  const y = tape.run(() =>
    recompute
      ? checkpoint(gpu(), ([xi]) => block(xi!, p.w1, p.b1, p.w2), [x], { params })
      : block(x, p.w1, p.b1, p.w2),
  );
  const grads = tape.backward(y);
  y.dispose();
  return { grads, tape };
}

describe('autograd tape', () => {
  it('accumulates micro-batch gradients to the full-batch gradient', async () => {
    const p = params();
    const xa = randomArray(4 * 5, 10);
    const xb = randomArray(3 * 5, 11);
    const full = new Float32Array([...xa, ...xb]);
    const store = new Map<Tensor, Tensor>();
    for (const [data, rows] of [
      [xa, 4],
      [xb, 3],
    ] as const) {
      const x = gpu().tensor(data, [rows, 5]);
      const { grads, tape } = await gradsOf(x, p, false);
      accumulateGrads(gpu(), store, grads);
      tape.dispose();
      x.dispose();
    }
    const x = gpu().tensor(full, [7, 5]);
    const { grads, tape } = await gradsOf(x, p, false);
    for (const t of [p.w1, p.b1, p.w2]) {
      expectClose(await gpu().read(store.get(t)!), await gpu().read(grads.get(t)!), {
        rtol: 1e-5,
        atol: 1e-6,
      });
    }
    for (const g of [...store.values(), ...grads.values()]) g.dispose();
    tape.dispose();
    x.dispose();
    for (const t of Object.values(p)) t.dispose();
  });

  it('records nothing under noGrad and nothing for frozen inputs', () => {
    const p = params();
    const x = gpu().tensor(randomArray(2 * 5, 12), [2, 5]);
    const tape = new Tape(gpu());
    tape.run(() => {
      noGrad(gpu(), () => block(x, p.w1, p.b1, p.w2)).dispose();
      const frozen = gpu().tensor(randomArray(4 * 5, 13), [4, 5]);
      linear(gpu(), x, frozen).dispose();
      frozen.dispose();
    });
    expect(tape.size).toBe(0);
    tape.dispose();
    x.dispose();
    for (const t of Object.values(p)) t.dispose();
  });

  it.each(['listed', 'found'] as const)(
    'gives the same gradients with activation recomputation (parameters %s)',
    async (mode) => {
      const p = params();
      const x = markTrainable(gpu().tensor(randomArray(4 * 5, 14), [4, 5]));
      const plain = await gradsOf(x, p, false);
      const recomputed = await gradsOf(x, p, mode);
      expect(recomputed.tape.size).toBe(1);
      for (const t of [x, p.w1, p.b1, p.w2]) {
        const a = await gpu().read(plain.grads.get(t)!);
        const b = await gpu().read(recomputed.grads.get(t)!);
        expectClose(b, a, { rtol: 1e-6, atol: 1e-7 });
      }
      for (const r of [plain, recomputed]) {
        for (const g of r.grads.values()) g.dispose();
        r.tape.dispose();
      }
      x.dispose();
      for (const t of Object.values(p)) t.dispose();
    },
  );

  it('keeps saved activations alive after their creator and an enclosing scope drop them', async () => {
    const p = params();
    const tape = new Tape(gpu());
    const data = randomArray(2 * 5, 16);
    const y = gpu().scope(() =>
      tape.run(() => {
        const x = gpu().tensor(data, [2, 5]);
        const out = linear(gpu(), x, p.w1, p.b1);
        x.dispose();
        x.dispose();
        return out;
      }),
    );
    // The tape saved x; the weight gradient needs it: dW1 = dy^T x with dy = ones.
    const grads = tape.backward(y);
    const dw = await gpu().read(grads.get(p.w1)!);
    for (let o = 0; o < 6; o++)
      for (let i = 0; i < 5; i++) expect(dw[o * 5 + i]).toBeCloseTo(data[i]! + data[5 + i]!, 5);
    for (const g of grads.values()) g.dispose();
    y.dispose();
    tape.dispose();
    for (const t of Object.values(p)) t.dispose();
  });

  it('releases every temporary once the tape and the gradients are disposed', async () => {
    const p = params();
    const x = gpu().tensor(randomArray(4 * 5, 15), [4, 5]);
    await gpu().sync();
    const before = gpu().pool.snapshot().liveBytes;
    for (const recompute of [false, 'listed', 'found'] as const) {
      const { grads, tape } = await gradsOf(x, p, recompute);
      for (const g of grads.values()) g.dispose();
      tape.dispose();
    }
    expect(gpu().pool.snapshot().liveBytes).toBe(before);
    x.dispose();
    for (const t of Object.values(p)) t.dispose();
  });
});
