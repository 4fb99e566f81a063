// A run that starts from a PEFT adapter: the adapter's adapter_config.json sets the LoRA fields (and
// says so), the policy starts as base + that adapter (same logits as importing it directly, not the
// base model's), the reference is the base model, training moves only the adapter, and adapters this
// code cannot train further are refused with a message.
import { afterAll, describe, expect, it } from 'vitest';
import { withAdapterSettings } from '../../src/grpo/adapter.ts';
import { resolveConfig } from '../../src/grpo/config.ts';
import type { PolicyView } from '../../src/grpo/policy.ts';
import { LoraError } from '../../src/model/errors.ts';
import { createLora, importPeft, type PeftAdapterFiles } from '../../src/model/lora.ts';
import { modelForward } from '../../src/model/qwen-vl.ts';
import { expectClose, setupGpu } from '../helpers.ts';
import { nanoRun } from './nano-run.ts';

const gpu = setupGpu();
const peftJson = (over: Record<string, unknown> = {}) => ({
  peft_type: 'LORA',
  r: 4,
  lora_alpha: 12,
  lora_dropout: 0,
  target_modules: ['q_proj', 'v_proj'],
  bias: 'none',
  ...over,
});

describe('withAdapterSettings', () => {
  it('takes r, alpha, dropout and targets from adapter_config.json and names what it set', () => {
    const warnings: string[] = [];
    const base = resolveConfig({}, { preset: 'nano-demo' });
    const c = withAdapterSettings(base, JSON.stringify(peftJson()), (m) => warnings.push(m));
    expect(c).toMatchObject({ use_peft: true, lora_r: 4, lora_alpha: 12, lora_dropout: 0 });
    expect(c.lora_target_modules).toEqual(['q_proj', 'v_proj']);
    expect(c.learning_rate).toBe(base.learning_rate);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('use_peft true');
    expect(warnings[0]).toContain('lora_r 4');
    // Nothing to say when the config already matches.
    withAdapterSettings(c, peftJson(), (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
  });

  it('refuses adapters it cannot train further', () => {
    const base = resolveConfig({});
    expect(() => withAdapterSettings(base, peftJson({ use_rslora: true }), () => {})).toThrow(/use_rslora/);
    expect(() => withAdapterSettings(base, peftJson({ use_dora: true }), () => {})).toThrow(LoraError);
    expect(() => withAdapterSettings(base, '{not json', () => {})).toThrow(/not valid JSON/);
  });
});

describe('a run from an adapter', () => {
  const made: { dispose(): void }[] = [];
  afterAll(() => {
    for (const m of made) m.dispose();
  });

  it('starts as base + adapter, keeps the base as reference, and trains only the adapter', async () => {
    const g = gpu();
    const probe = await nanoRun(g, {});
    made.push(probe);
    const config = probe.trainer.policy.config;
    // An adapter with non-zero B, so it changes the model.
    const source = createLora(g, config, { r: 4, alpha: 12, targetModules: ['q_proj', 'v_proj'], seed: 3 });
    for (const ad of source.adapters.values()) {
      const b = new Float32Array(ad.B.size);
      for (let i = 0; i < b.length; i++) b[i] = Math.sin(i * 0.7 + ad.outFeatures) * 0.05;
      g.write(ad.B, b);
    }
    const files: PeftAdapterFiles = await source.exportPeft();
    source.dispose();
    const input = {
      'adapter_config.json': JSON.stringify(files['adapter_config.json']),
      'adapter_model.safetensors': files['adapter_model.safetensors'],
    };

    const warnings: string[] = [];
    const run = await nanoRun(
      g,
      { beta: 0.04, learning_rate: 1e-2 },
      { adapter: input, warn: (m) => warnings.push(m) },
    );
    made.push(run);
    const { trainer, weights } = run;
    expect(warnings.join()).toContain('lora_alpha 12');
    expect(trainer.setup.config).toMatchObject({ use_peft: true, lora_r: 4, lora_alpha: 12 });
    expect(trainer.policy.parameters.map((p) => p.name)).toContain(
      'model.layers.0.self_attn.q_proj.lora_A.weight',
    );
    expect(trainer.policy.parameters).toHaveLength(2 * 2 * config.text.numHiddenLayers);

    const ids = { inputIds: Int32Array.from([481, 77, 101, 33, 482, 10, 481, 97, 115]) };
    const logits = async (view: PolicyView) => {
      const t = modelForward(g, config, view.weights, ids, { linear: view.linear });
      const v = await g.read(t);
      t.dispose();
      return v;
    };
    const direct = await importPeft(g, config, input);
    const expected = await logits({ weights, linear: direct.linear });
    direct.dispose();
    const base = await logits({ weights });
    trainer.policy.lora!.training = false;
    expectClose(await logits(trainer.policy.current), expected, { rtol: 0, atol: 1e-5 });
    expect(Array.from(base).some((v, i) => Math.abs(v - expected[i]!) > 1e-3)).toBe(true);
    expectClose(await trainer.policy.withReferenceAsync((v) => logits(v)), base, { rtol: 0, atol: 1e-6 });
    trainer.policy.lora!.training = true;

    const before = new Map(
      await Promise.all([...weights].map(async ([n, t]) => [n, await g.read(t)] as const)),
    );
    const startA = await g.read(trainer.policy.parameters[0]!.tensor);
    const report = await trainer.trainStep();
    expect(Number.isFinite(report.metrics.loss)).toBe(true);
    const afterA = await g.read(trainer.policy.parameters[0]!.tensor);
    expect(Array.from(afterA).some((v, i) => v !== startA[i])).toBe(true);
    for (const [n, t] of weights) expect(await g.read(t), n).toEqual(before.get(n));
  });
});
