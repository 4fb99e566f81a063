// Packed scoring of completions: the log-probs of several prompt + completion sequences packed into one
// pass (images shared between sequences, text-only prompts, different lengths) equal a float64
// log-softmax of each sequence's own full modelForward logits; gradients reach LoRA adapters through
// the packed pass as they do through the separate ones.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../src/gpu/autograd.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { type SequenceImage, scoreSequences } from '../../src/grpo/sequences.ts';
import { createLora } from '../../src/model/lora.ts';
import { modelForward } from '../../src/model/qwen-vl.ts';
import { disposeWeights, randomWeights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import { nanoConfig } from '../model/test-configs.ts';

const gpu = setupGpu();

describe('packed completion scoring', () => {
  const c = nanoConfig();
  const t = c.tokens;
  const r = rng(3);
  const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
  const image = (gh: number, gw: number, seed: number): SequenceImage => ({
    grid: [1, gh, gw],
    pixelValues: randomArray(gh * gw * c.vision.patchDim, seed),
  });
  const withImage = (im: SequenceImage, before: number, after: number) =>
    Int32Array.from([
      ...text(before),
      t.visionStartTokenId,
      ...new Array<number>((im.grid[1] * im.grid[2]) / 4).fill(t.imageTokenId),
      t.visionEndTokenId,
      ...text(after),
    ]);
  const images = [image(4, 6, 11), image(6, 4, 12)];
  const sequences = [
    { promptIds: withImage(images[0]!, 3, 5), completionIds: text(7), image: 0 },
    { promptIds: withImage(images[0]!, 3, 5), completionIds: text(2), image: 0 },
    { promptIds: Int32Array.from(text(9)), completionIds: text(4) },
    { promptIds: withImage(images[1]!, 1, 8), completionIds: text(5), image: 1 },
  ];
  const temperature = 0.8;

  it('log-probs and entropies equal each sequence scored alone (float64 log-softmax of full logits)', async () => {
    const g = gpu();
    const w = randomWeights(g, c, 21);
    const scores = scoreSequences(g, c, w, sequences, images, { temperature, entropy: true });
    const logp = await g.read(scores.logp);
    const ent = await g.read(scores.entropy!);
    expect(scores.offsets).toEqual([0, 7, 9, 13, 18]);
    for (const [i, s] of sequences.entries()) {
      const ids = Int32Array.from([...s.promptIds, ...s.completionIds]);
      const im = s.image === undefined ? undefined : images[s.image]!;
      const logits = modelForward(g, c, w, {
        inputIds: ids,
        ...(im ? { pixelValues: im.pixelValues, imageGrids: [im.grid] } : {}),
      });
      const all = await g.read(logits);
      logits.dispose();
      const V = c.text.vocabSize;
      const wantLp: number[] = [];
      const wantEnt: number[] = [];
      s.completionIds.forEach((id, j) => {
        const row = Array.from(
          all.subarray((s.promptIds.length - 1 + j) * V, (s.promptIds.length + j) * V),
        ).map((x) => x / temperature);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
        wantLp.push(row[id]! - lse);
        wantEnt.push(-row.reduce((a, x) => a + Math.exp(x - lse) * (x - lse), 0));
      });
      const [from, to] = [scores.offsets[i]!, scores.offsets[i + 1]!];
      expectClose(logp.subarray(from, to), wantLp, { rtol: 0, atol: 2e-4 });
      expectClose(ent.subarray(from, to), wantEnt, { rtol: 0, atol: 2e-4 });
    }
    scores.logp.dispose();
    scores.entropy?.dispose();
    disposeWeights(w);
  });

  it('LoRA gradients of a seeded loss are the sum of the per-sequence ones', async () => {
    const g = gpu();
    const w = randomWeights(g, c, 22);
    const lora = createLora(g, c, { r: 4, alpha: 8, seed: 5 });
    // Non-zero B so gradients reach A too.
    for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, 7, 0.05));
    const seedOf = (n: number, offset: number) =>
      Float32Array.from({ length: n }, (_, k) => Math.sin(offset + k + 1) * 0.5);
    const run = async (seqs: typeof sequences, offset: number) => {
      const tape = new Tape(g);
      const s = tape.run(() => scoreSequences(g, c, w, seqs, images, { temperature, linear: lora.linear }));
      const n = s.offsets.at(-1)!;
      const seed = g.tensor(seedOf(n, offset), [n]);
      const grads = tape.backward(s.logp, seed);
      tape.dispose();
      seed.dispose();
      s.logp.dispose();
      return grads;
    };
    const packed = await run(sequences, 0);
    const sum = new Map<Tensor, Float64Array>();
    let offset = 0;
    for (const s of sequences) {
      const grads = await run([s], offset);
      offset += s.completionIds.length;
      for (const [p, gt] of grads) {
        const v = await g.read(gt);
        const acc = sum.get(p) ?? new Float64Array(v.length);
        v.forEach((x, k) => {
          acc[k]! += x;
        });
        sum.set(p, acc);
        gt.dispose();
      }
    }
    expect(packed.size).toBe(lora.parameters().length);
    for (const [p, gt] of packed) {
      const got = await g.read(gt);
      const want = sum.get(p)!;
      const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
      expectClose(got, want, { rtol: 0, atol: 1e-4 * scale });
      gt.dispose();
    }
    lora.dispose();
    disposeWeights(w);
  });
});
