// The shipped nano checkpoint (public/nano/model.safetensors): read here with a header parser written
// for the test and checked against hand-written shapes and the README's parameter count, loaded with
// loadModel (same values), its training record (scripts/make-nano-checkpoint.py), and the engine's own
// greedy evaluation on held-out rows of the nano task: it answers in the rewarded format and finds the
// object the question names far more often than a model that ignores the image can.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPromptModel } from '../../src/cli/model-input.ts';
import { NANO_TASK, syntheticDataset } from '../../src/data/synthetic.ts';
import { evaluate } from '../../src/grpo/eval.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { DEFAULT_PREFILL, stopTokenIds } from '../../src/model/prompt.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { setupGpu } from '../helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const nanoDir = join(root, 'public/nano');
const gpu = setupGpu();

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function parse(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const { __metadata__: metadata, ...tensors } = header;
  const values = (name: string): Float32Array => {
    const [a, b] = (tensors[name] as Entry).data_offsets;
    return new Float32Array(bytes.slice(8 + n + a, 8 + n + b).buffer);
  };
  return { metadata, tensors: tensors as Record<string, Entry>, values, dataStart: 8 + n };
}

interface TrainingRecord {
  recipe: string;
  settings: { steps: number; stop_step: number; train_seed: number; eval_seed: number; eval_rows: number };
  seconds: number;
  final_eval: { acc50: number; mean_iou: number; format_rate: number };
  log: { step: number; loss: number }[];
}

describe('the shipped nano checkpoint', () => {
  const bytes = new Uint8Array(readFileSync(join(nanoDir, 'model.safetensors')));
  const st = parse(bytes);

  it("holds every tensor in F32 under transformers' names, with the right shapes and count", () => {
    expect(st.metadata).toEqual({ format: 'pt' });
    const names = Object.keys(st.tensors);
    // Vision: patch_embed + 2 blocks x (2 LayerNorms w+b, qkv w+b, proj w+b, fc1 w+b, fc2 w+b) + merger 6.
    // Decoder: embed + 4 layers x (2 norms, q/k/v w+b, o w, gate/up/down w) + final norm; tied head.
    expect(names).toHaveLength(1 + 2 * 12 + 6 + 1 + 4 * 12 + 1);
    for (const e of Object.values(st.tensors)) expect(e.dtype).toBe('F32');
    const shape = (n: string) => st.tensors[n]?.shape;
    expect(shape('model.visual.patch_embed.proj.weight')).toEqual([64, 3, 2, 14, 14]);
    expect(shape('model.visual.blocks.1.attn.qkv.weight')).toEqual([192, 64]);
    expect(shape('model.visual.blocks.1.mlp.fc1.weight')).toEqual([256, 64]);
    expect(shape('model.visual.merger.mlp.0.weight')).toEqual([256, 256]);
    expect(shape('model.visual.merger.mlp.2.weight')).toEqual([128, 256]);
    expect(shape('model.language_model.embed_tokens.weight')).toEqual([512, 128]);
    expect(shape('model.language_model.layers.3.self_attn.k_proj.weight')).toEqual([64, 128]);
    expect(shape('model.language_model.layers.3.self_attn.v_proj.bias')).toEqual([64]);
    expect(shape('model.language_model.layers.3.self_attn.o_proj.bias')).toBeUndefined();
    expect(shape('model.language_model.layers.0.mlp.down_proj.weight')).toEqual([128, 384]);
    expect(shape('model.language_model.norm.weight')).toEqual([128]);
    expect(shape('lm_head.weight')).toBeUndefined();
    const total = Object.values(st.tensors).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    expect(total).toBe(1_128_192);
    expect(bytes.length).toBe(st.dataStart + 4 * total);
    for (const name of names) expect(st.values(name).every(Number.isFinite), name).toBe(true);
  });

  it('loads with loadModel with the same values', async () => {
    const loaded = await loadModel(gpu(), directoryOpener(nanoDir));
    try {
      expect(loaded.weights.size).toBe(Object.keys(st.tensors).length);
      for (const [stored, canonical] of [
        ['model.language_model.layers.0.self_attn.k_proj.weight', 'model.layers.0.self_attn.k_proj.weight'],
        ['model.visual.blocks.0.norm2.weight', 'visual.blocks.0.norm2.weight'],
      ] as const) {
        const got = await gpu().read(loaded.weights.get(canonical)!);
        expect(Float32Array.from(got)).toEqual(st.values(stored));
      }
    } finally {
      disposeWeights(loaded.weights);
    }
  });

  const record = JSON.parse(readFileSync(join(nanoDir, 'training.json'), 'utf8')) as TrainingRecord;

  it('records the recipe that made it: settings, the loss falling, the held-out evaluation', () => {
    expect(record.recipe).toBe('scripts/make-nano-checkpoint.py');
    expect(record.log.at(-1)!.step).toBe(record.settings.stop_step);
    expect(record.seconds).toBeGreaterThan(0);
    expect(record.log.at(-1)!.loss).toBeLessThan(record.log[0]!.loss / 4);
    expect(record.final_eval.format_rate).toBeGreaterThan(0.9);
  });

  it("answers held-out rows in the rewarded format and grounds them in the engine's own evaluation", async () => {
    const model = await loadPromptModel('nano');
    const loaded = await loadModel(gpu(), directoryOpener(nanoDir));
    try {
      // Rows the recipe never trained on (its training seed draws other scenes).
      const rows = syntheticDataset(record.settings.eval_seed, 32, NANO_TASK);
      const r = await evaluate(gpu(), model, { weights: loaded.weights }, rows, {
        space: 'pixels',
        maxCompletionLength: 64,
        stopIds: stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds),
        systemPrompt: null,
        prefill: DEFAULT_PREFILL,
        minPixels: null,
        maxPixels: null,
        batchSize: 16,
      });
      expect(r.format_rate).toBeGreaterThanOrEqual(0.9);
      // A model that answers every image with the same box scores a mean IoU under 0.1 on this task.
      expect(r.mean_iou).toBeGreaterThan(0.15);
      expect(r.acc50).toBeGreaterThan(0.1);
    } finally {
      disposeWeights(loaded.weights);
    }
  }, 240_000);
});
