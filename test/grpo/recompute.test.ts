// Gradient checkpointing (gradient_checkpointing): scoring with every decoder layer and vision block
// recomputed in the backward gives the gradients of the plain pass, for full fine-tuning (vision weights
// included) and for LoRA with dropout (the recomputation draws the first run's masks), while the tape
// holds less memory between the forward and the backward; the logits formed a chunk of rows at a time
// give the log-probs, entropies and gradients of the logits formed whole.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../src/gpu/autograd.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import {
  type ScoreOptions,
  type Scores,
  type SequenceImage,
  scoreSequences,
} from '../../src/grpo/sequences.ts';
import { createLora, freezeWeights, trainableWeights } from '../../src/model/lora.ts';
import { disposeWeights, randomWeights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import { nanoConfig } from '../model/test-configs.ts';

const gpu = setupGpu();

describe('gradient checkpointing', () => {
  const c = nanoConfig();
  const t = c.tokens;
  const r = rng(8);
  const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
  const images: SequenceImage[] = [
    { grid: [1, 4, 6], pixelValues: randomArray(24 * c.vision.patchDim, 31) },
    { grid: [1, 6, 4], pixelValues: randomArray(24 * c.vision.patchDim, 32) },
  ];
  const prompt = (im: SequenceImage) =>
    Int32Array.from([
      ...text(4),
      t.visionStartTokenId,
      ...new Array<number>((im.grid[1] * im.grid[2]) / 4).fill(t.imageTokenId),
      t.visionEndTokenId,
      ...text(6),
    ]);
  const sequences = [
    { promptIds: prompt(images[0]!), completionIds: text(9), image: 0 },
    { promptIds: prompt(images[1]!), completionIds: text(5), image: 1 },
    { promptIds: Int32Array.from(text(7)), completionIds: text(6) },
  ];

  /**
   * Gradients of a fixed weighted sum of the log-probs, the bytes the tape held before backward, and the
   * log-probs and entropies themselves.
   */
  async function gradients(weights: Parameters<typeof scoreSequences>[2], options: ScoreOptions) {
    const g = gpu();
    await g.sync();
    const before = g.pool.snapshot().liveBytes;
    const tape = new Tape(g);
    const s: Scores = tape.run(() => scoreSequences(g, c, weights, sequences, images, options));
    const held = g.pool.snapshot().liveBytes - before;
    const n = s.offsets.at(-1)!;
    const seed = g.tensor(
      Float32Array.from({ length: n }, (_, k) => Math.cos(k + 1)),
      [n],
    );
    const logp = await g.read(s.logp);
    const entropy = s.entropy ? await g.read(s.entropy) : undefined;
    s.entropy?.dispose();
    const grads = tape.backward(s.logp, seed);
    tape.dispose();
    seed.dispose();
    s.logp.dispose();
    const values = new Map<Tensor, ArrayLike<number>>();
    for (const [p, gt] of grads) {
      values.set(p, await g.read(gt));
      gt.dispose();
    }
    return { values, held, logp, entropy };
  }

  function expectSameGradients(got: Map<Tensor, ArrayLike<number>>, want: Map<Tensor, ArrayLike<number>>) {
    expect(got.size).toBe(want.size);
    for (const [p, w] of want) {
      const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
      expectClose(got.get(p)!, w, { rtol: 0, atol: 1e-4 * scale });
    }
  }

  it('full fine-tuning: the same gradients, every weight reached, less held by the tape', async () => {
    const g = gpu();
    const w = randomWeights(g, c, 41);
    const trained = trainableWeights(w);
    const plain = await gradients(w, { temperature: 0.9 });
    const recomputed = await gradients(w, { temperature: 0.9, recompute: {} });
    expect(plain.values.size).toBe(trained.size);
    expectSameGradients(recomputed.values, plain.values);
    expect(recomputed.held).toBeLessThan(plain.held / 2);
    freezeWeights(w);
    disposeWeights(w);
  });

  it('logits in chunks of rows: the log-probs, entropies and gradients of the whole logits', async () => {
    const g = gpu();
    const w = randomWeights(g, c, 43);
    const trained = trainableWeights(w);
    const options = { temperature: 0.9, recompute: {}, entropy: true };
    const whole = await gradients(w, options);
    // 20 kept rows: chunks of 6, 6, 6 and 2.
    const chunked = await gradients(w, { ...options, logitRows: 6 });
    expect(whole.logp.length).toBe(20);
    expectClose(chunked.logp, whole.logp, { rtol: 0, atol: 1e-5 });
    expectClose(chunked.entropy!, whole.entropy!, { rtol: 0, atol: 1e-5 });
    expect(whole.values.size).toBe(trained.size);
    expectSameGradients(chunked.values, whole.values);
    expect(chunked.held).toBeLessThan(whole.held);
    freezeWeights(w);
    disposeWeights(w);
  });

  it('LoRA with dropout: the recomputation draws the masks of the first run', async () => {
    const g = gpu();
    const w = randomWeights(g, c, 42);
    const lora = createLora(g, c, { r: 4, alpha: 8, dropout: 0.3, seed: 6 });
    for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, 9, 0.05));
    const run = (recompute?: ScoreOptions['recompute']) => {
      lora.resetDropout(77);
      return gradients(w, { temperature: 1, linear: lora.linear, recompute });
    };
    const plain = await run();
    const replayed = await run({ capture: lora.captureDropout });
    expect(plain.values.size).toBe(lora.parameters().length);
    expectSameGradients(replayed.values, plain.values);
    // Without the replay the recomputation draws fresh masks, and the gradients move.
    const fresh = await run({});
    const moved = [...plain.values].some(([p, want]) =>
      Array.from(want).some(
        (x, k) => Math.abs(x - fresh.values.get(p)![k]!) > 1e-3 * Math.max(1e-6, Math.abs(x)),
      ),
    );
    expect(moved).toBe(true);
    lora.dispose();
    disposeWeights(w);
  });
});
