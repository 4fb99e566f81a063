// Exports of a run on nano: the merged model is, bit for bit, what Lora.merge gives, written from a copy
// so the weights being trained do not change; f16 weights and a run without an adapter are refused with
// what to export instead; the adapter round-trips through importPeft; metrics become CSV.
import { describe, expect, it } from 'vitest';
import { NANO_DIR } from '../../src/cli/model-input.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import {
  adapterFiles,
  ExportError,
  mergedWeightsFile,
  metricsCsv,
  metricsFiles,
} from '../../src/grpo/export.ts';
import { bytesSource } from '../../src/model/byte-source.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { createLora, importPeft } from '../../src/model/lora.ts';
import { openSafetensors } from '../../src/model/safetensors.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { randomArray, setupGpu } from '../helpers.ts';

const gpu = setupGpu();

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

/** nano with a LoRA adapter whose B matrices are random (as after some training). */
async function trainedLora(g: Gpu, weightDtype: 'f32' | 'f16' = 'f32') {
  const loaded = await loadModel(g, directoryOpener(NANO_DIR), { weightDtype });
  const lora = createLora(g, loaded.config, { r: 4, alpha: 8, seed: 1 });
  let seed = 10;
  for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, seed++, 0.05));
  return {
    ...loaded,
    lora,
    dispose: () => {
      lora.dispose();
      disposeWeights(loaded.weights);
    },
  };
}

describe('export', () => {
  it('merged: equal to Lora.merge, from a copy (the training weights stay)', async () => {
    const g = gpu();
    const m = await trainedLora(g);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const base = await g.read(m.weights.get(q)!);
    const file = await mergedWeightsFile(g, m.weights, m.lora);
    expect(same(await g.read(m.weights.get(q)!), base)).toBe(true);
    expect(m.lora.merged).toBe(false);

    const written = await openSafetensors(bytesSource(file, 'model.safetensors'));
    expect(new Set(written.tensors.map((t) => t.dtype))).toEqual(new Set(['F32']));
    expect(written.tensors.map((t) => t.name).sort()).toEqual([...m.weights.keys()].sort());
    m.lora.merge(m.weights);
    for (const [name, t] of m.weights)
      expect(same(await written.readF32(name), await g.read(t)), name).toBe(true);
    expect(same(await written.readF32(q), base)).toBe(false);
    m.lora.unmerge(m.weights);
    m.dispose();
  });

  it('merged without an adapter (full fine-tuning) is the weights as they are', async () => {
    const g = gpu();
    const loaded = await loadModel(g, directoryOpener(NANO_DIR));
    const written = await openSafetensors(
      bytesSource(await mergedWeightsFile(g, loaded.weights, undefined), 'model.safetensors'),
    );
    for (const [name, t] of loaded.weights)
      expect(same(await written.readF32(name), await g.read(t))).toBe(true);
    disposeWeights(loaded.weights);
  });

  it('merged on f16 weights is refused, naming the adapter export and weight_dtype f32', async (ctx) => {
    const g = gpu();
    if (!g.hasF16) ctx.skip();
    const m = await trainedLora(g, 'f16');
    const refused = mergedWeightsFile(g, m.weights, m.lora);
    await expect(refused).rejects.toBeInstanceOf(ExportError);
    await expect(refused).rejects.toThrow(
      /merging needs f32 weights .* f16.*export 'adapter'.*weight_dtype 'f32'/,
    );
    m.dispose();
  });

  it('adapter: PEFT files that importPeft loads back; none for full fine-tuning', async () => {
    const g = gpu();
    const m = await trainedLora(g);
    const files = await adapterFiles(m.lora, 'nano');
    expect(Object.keys(files)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, base_model_name_or_path: 'nano' });
    const back = await importPeft(g, m.config, {
      'adapter_config.json': config,
      'adapter_model.safetensors': files['adapter_model.safetensors']!,
    });
    for (const [module, ad] of m.lora.adapters)
      expect(same(await g.read(back.adapters.get(module)!.B), await g.read(ad.B))).toBe(true);
    back.dispose();
    m.dispose();
    await expect(adapterFiles(undefined, 'nano')).rejects.toThrow(/no adapter; export 'merged'/);
  });

  it('metrics as CSV: one column per name, first seen first; null and absent are empty', () => {
    const jsonl = '{"step":1,"loss":0.5,"reward":null}\n{"step":2,"loss":0.25,"note":"a, \\"b\\""}\n';
    expect(metricsCsv(jsonl)).toBe('step,loss,reward,note\n1,0.5,,\n2,0.25,,"a, ""b"""\n');
    const files = metricsFiles(jsonl);
    expect(Object.keys(files)).toEqual(['metrics.jsonl', 'metrics.csv']);
    expect(new TextDecoder().decode(files['metrics.jsonl'])).toBe(jsonl);
    expect(metricsCsv('')).toBe('\n');
  });
});
