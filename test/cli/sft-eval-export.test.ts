// `vgrpo sft`, `vgrpo eval` and `vgrpo export` through the real binary on nano with tiny LoRA settings:
// SFT writes a model folder that eval accepts; a LoRA run's checkpoint exports a PEFT adapter that eval
// applies and GRPO trains further, and merged HF weights whose logits equal the base model with the
// adapter (checked in process); metrics become CSV; --json prints the four numbers.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { NANO_DIR } from '../../src/cli/model-input.ts';
import { saveCheckpoint } from '../../src/grpo/checkpoint.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { importPeft } from '../../src/model/lora.ts';
import { modelForward } from '../../src/model/qwen-vl.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { LENGTH_REWARD, nanoRun } from '../grpo/nano-run.ts';
import { expectClose, setupGpu } from '../helpers.ts';
import { vgrpo } from './vgrpo.ts';

const dir = mkdtempSync(join(tmpdir(), 'vgrpo-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const gpu = setupGpu();

const tiny = join(dir, 'lora.yaml');
writeFileSync(
  tiny,
  'num_generations: 2\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 1\nmax_completion_length: 6\n' +
    'use_peft: true\nlora_r: 4\nlora_alpha: 8\nlora_dropout: 0\nlearning_rate: 0.01\nsave_steps: 1\n',
);
const common = ['--config', tiny, '--synthetic-rows', '8'];

describe('vgrpo sft, eval and export', () => {
  it('sft writes a model folder that eval reads', async () => {
    const r = await vgrpo(['sft', ...common, '--max-steps', '2', '--out', join(dir, 'sft')]);
    expect(r.code, r.stderr).toBe(0);
    const metrics = readFileSync(join(dir, 'sft', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(metrics).toHaveLength(2);
    expect(JSON.parse(metrics[1]!)).toMatchObject({ step: 2 });
    const config = JSON.parse(readFileSync(join(dir, 'sft', 'model', 'config.json'), 'utf8'));
    expect(config.box_space).toBe('pixels');
    const samples = join(dir, 'eval-samples.jsonl');
    const e = await vgrpo([
      'eval',
      '--model',
      join(dir, 'sft', 'model'),
      '--config',
      tiny,
      '--limit',
      '3',
      '--json',
      '--samples',
      samples,
    ]);
    expect(e.code, e.stderr).toBe(0);
    const out = JSON.parse(e.stdout);
    expect(Object.keys(out).sort()).toEqual(['acc50', 'format_rate', 'mean_iou', 'n']);
    expect(out.n).toBe(3);
    const rows = readFileSync(samples, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    for (const row of rows)
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['id', 'question', 'box', 'text', 'iou']));
    expect(rows.filter((x) => x.iou > 0.5).length / 3).toBe(out.acc50);
  });

  it('a LoRA run exports its adapter, which eval applies, and merged weights equal to base + adapter', async () => {
    // A run folder with a trained adapter: a reward with spread (longer answers score higher) gives
    // nano non-zero advantages, so the adapter moves away from zero.
    const run = join(dir, 'lora');
    const g = gpu();
    const nano = await nanoRun(
      g,
      { ...parseYaml(readFileSync(tiny, 'utf8')), reward_funcs: [LENGTH_REWARD], max_steps: 2 },
      { seed: 2, rows: 8 },
    );
    const trainer = nano.trainer;
    const logged: string[] = [];
    while (!trainer.done) logged.push(JSON.stringify({ step: (await trainer.trainStep()).step, loss: 0 }));
    mkdirSync(join(run, 'checkpoint-2'), { recursive: true });
    for (const [name, bytes] of Object.entries(
      await saveCheckpoint(trainer, { model: 'nano', dataset: 'synthetic:2:8' }),
    ))
      writeFileSync(join(run, 'checkpoint-2', name), bytes);
    writeFileSync(join(run, 'metrics.jsonl'), `${logged.join('\n')}\n`);
    nano.dispose();

    const adapter = join(dir, 'adapter');
    const x = await vgrpo(['export', '--run', run, '--out', adapter]);
    expect(x.code, x.stderr).toBe(0);
    const peftConfig = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(peftConfig).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    const csv = readFileSync(join(adapter, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]!.split(',')[0]).toBe('step');
    expect(csv).toHaveLength(3);
    const e = await vgrpo(['eval', '--adapter', adapter, '--config', tiny, '--limit', '2', '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).n).toBe(2);
    // GRPO trains that adapter further; the config's LoRA fields give way to the adapter's.
    const further = join(dir, 'further');
    const tiny16 = join(dir, 'lora16.yaml');
    writeFileSync(tiny16, readFileSync(tiny, 'utf8').replace('lora_r: 4', 'lora_r: 16'));
    const t = await vgrpo([
      'train',
      '--adapter',
      adapter,
      '--config',
      tiny16,
      '--synthetic-rows',
      '8',
      '--max-steps',
      '1',
      '--out',
      further,
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain('lora_r 4');
    const continued = JSON.parse(readFileSync(join(further, 'checkpoint-1', 'adapter_config.json'), 'utf8'));
    expect(continued).toMatchObject({ r: 4, lora_alpha: 8 });

    const merged = join(dir, 'merged');
    const m = await vgrpo(['export', '--run', run, '--out', merged, '--merged']);
    expect(m.code, m.stderr).toBe(0);
    const base = await loadModel(g, directoryOpener(NANO_DIR));
    const lora = await importPeft(g, base.config, {
      'adapter_config.json': readFileSync(join(adapter, 'adapter_config.json'), 'utf8'),
      'adapter_model.safetensors': new Uint8Array(readFileSync(join(adapter, 'adapter_model.safetensors'))),
    });
    const full = await loadModel(g, directoryOpener(merged));
    const ids = Int32Array.from([481, 77, 101, 33, 482, 10, 481, 97, 115]);
    const a = modelForward(g, base.config, base.weights, { inputIds: ids }, { linear: lora.linear });
    const b = modelForward(g, full.config, full.weights, { inputIds: ids });
    const [va, vb] = [await g.read(a), await g.read(b)];
    expectClose(vb, va, { rtol: 0, atol: 1e-4 });
    // The adapter changed the model: its logits differ from the base model's.
    const c = modelForward(g, base.config, base.weights, { inputIds: ids });
    const vc = await g.read(c);
    expect(Array.from(vc).some((v, i) => Math.abs(v - va[i]!) > 1e-4)).toBe(true);
    for (const tsr of [a, b, c]) tsr.dispose();
    lora.dispose();
    disposeWeights(base.weights);
    disposeWeights(full.weights);
  });

  it('export and eval explain what is missing', async () => {
    const r = await vgrpo(['export', '--run', join(dir, 'nothing'), '--out', join(dir, 'o')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not exist');
    const e = await vgrpo(['eval', '--adapter', join(dir, 'nothing'), '--limit', '1']);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('adapter_config.json');
    const t = await vgrpo([
      'train',
      '--adapter',
      join(dir, 'nothing'),
      '--max-steps',
      '1',
      '--out',
      join(dir, 'o'),
    ]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('give a PEFT adapter folder');
  });
});
