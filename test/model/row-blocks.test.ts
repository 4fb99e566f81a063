// Row-blocked weights: on a device whose maxBufferSize is set below the shipped nano checkpoint's larger
// matrices, the loader stores them in row blocks, and the forward (embedding lookups, projections, the
// tied LM head), sampling with the KV cache, and LoRA gradients through them give what the same
// checkpoint gives unblocked; full fine-tuning is refused with the way out, and reading one back joins
// its blocks.
import { describe, expect, it } from 'vitest';
import { NANO_DIR } from '../../src/cli/model-input.ts';
import { Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { GrpoConfigError } from '../../src/grpo/config.ts';
import { Policy } from '../../src/grpo/policy.ts';
import { imageFeatures, type SequenceImage, scoreSequences } from '../../src/grpo/sequences.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { generateBatch } from '../../src/model/generate.ts';
import { loadModel } from '../../src/model/load.ts';
import { createLora } from '../../src/model/lora.ts';
import { modelForward, modelPositions } from '../../src/model/qwen-vl.ts';
import { disposeWeights, type Weights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';

// The nano's embedding and MLP matrices are 256 KiB in f32; its activations here stay under 96 KiB.
const LIMIT = 160 * 1024;
const plain = setupGpu();
const low = setupGpu({ maxBufferSize: LIMIT });

async function nano(g: Gpu): Promise<Awaited<ReturnType<typeof loadModel>>> {
  return loadModel(g, directoryOpener(NANO_DIR));
}

describe('row-blocked weights', () => {
  const r = rng(12);
  const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 470));

  it('stores the matrices over maxBufferSize in row blocks and reads them back whole', async () => {
    const [a, b] = [await nano(plain()), await nano(low())];
    const table = b.weights.get('model.embed_tokens.weight')!;
    expect(table.blocks?.parts.length).toBeGreaterThanOrEqual(2);
    expect(b.weights.get('model.layers.0.mlp.down_proj.weight')!.blocks).toBeDefined();
    expect(b.weights.get('model.norm.weight')!.blocks).toBeUndefined();
    expect(a.weights.get('model.embed_tokens.weight')!.blocks).toBeUndefined();
    expect(await low().read(table)).toEqual(await plain().read(a.weights.get('model.embed_tokens.weight')!));
    disposeWeights(a.weights);
    disposeWeights(b.weights);
  });

  it('gives the unblocked logits, greedy samples and LoRA gradients', async () => {
    const c = (await nano(plain())).config;
    const t = c.tokens;
    const image: SequenceImage = { grid: [1, 4, 4], pixelValues: randomArray(16 * c.vision.patchDim, 5) };
    const promptIds = Int32Array.from([
      ...text(5),
      t.visionStartTokenId,
      ...new Array<number>(4).fill(t.imageTokenId),
      t.visionEndTokenId,
      ...text(6),
    ]);
    const completionIds = text(7);

    const run = async (g: Gpu) => {
      const { weights } = await nano(g);
      const logits = modelForward(g, c, weights, {
        inputIds: promptIds,
        pixelValues: image.pixelValues,
        imageGrids: [image.grid],
      });
      const values = await g.read(logits);
      logits.dispose();

      const { positions, ropeDelta } = modelPositions(c, promptIds, [image.grid]);
      const features = imageFeatures(g, c, weights, [image]);
      const samples = await generateBatch(g, c, weights, {
        prompts: [{ inputIds: promptIds, positions, ropeDelta, imageFeatures: features }],
        numSamples: 2,
        maxNewTokens: 6,
        temperature: 0,
        seed: 1,
        stopIds: [],
      });
      features.dispose();

      const lora = createLora(g, c, { r: 4, alpha: 8, seed: 3 });
      for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, 4, 0.05));
      const tape = new Tape(g);
      const s = tape.run(() =>
        scoreSequences(g, c, weights, [{ promptIds, completionIds, image: 0 }], [image], {
          temperature: 1,
          linear: lora.linear,
        }),
      );
      const grads = tape.backward(s.logp);
      tape.dispose();
      s.logp.dispose();
      const byName = new Map<string, ArrayLike<number>>();
      for (const ad of lora.adapters.values()) {
        for (const [part, tensor] of [
          ['A', ad.A],
          ['B', ad.B],
        ] as [string, Tensor][]) {
          const gt = grads.get(tensor)!;
          byName.set(`${ad.module}.${part}`, await g.read(gt));
          gt.dispose();
        }
      }
      lora.dispose();
      disposeWeights(weights);
      return { values, ids: samples.ids, grads: byName };
    };

    const want = await run(plain());
    const got = await run(low());
    expectClose(got.values, want.values, { rtol: 0, atol: 1e-5 });
    expect(got.ids).toEqual(want.ids);
    expect(got.grads.size).toBe(want.grads.size);
    for (const [name, w] of want.grads) {
      const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
      expectClose(got.grads.get(name)!, w, { rtol: 0, atol: 1e-5 * scale });
    }
  });

  it('refuses full fine-tuning of blocked weights and says to use LoRA', async () => {
    const { config, weights } = await nano(low());
    const create = () => Policy.create(low(), config, weights, { lora: null, reference: false, seed: 0 });
    expect(create).toThrow(GrpoConfigError);
    expect(create).toThrow(/maxBufferSize; train with LoRA \(use_peft: true\)/);
    disposeWeights(weights as Weights);
  });
});
