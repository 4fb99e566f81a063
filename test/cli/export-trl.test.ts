// `vgrpo export-trl`: the TRL project's structure for the presets, its job.json (the settings under
// GRPOConfig's names, which resolve back to the same config; LoRA targets kept to the decoder; the box
// space of the model), its rows (the reward columns, input sizes as smart_resize gives them, PNG images
// holding the rows' own pixels), and a model it cannot place.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/data/image/image-decode-node.ts';
import { NANO_TASK, syntheticDataset } from '../../src/data/synthetic.ts';
import {
  CONFIG_FIELDS,
  type GrpoConfig,
  NOT_TRL_FIELDS,
  resolveConfig,
  trlKwargs,
  warmupSteps,
} from '../../src/grpo/config.ts';
import { smartResize, toRgb } from '../../src/model/image-processor.ts';
import { DEFAULT_LORA_TARGETS, peftTargetModules } from '../../src/model/lora.ts';
import { vgrpo } from './vgrpo.ts';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'vgrpo-trl-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FILES = [
  'README.md',
  'accelerate/ddp-8gpu.yaml',
  'accelerate/one-gpu.yaml',
  'accelerate/zero2-8gpu.yaml',
  'accelerate/zero3-8gpu.yaml',
  'data/train.jsonl',
  'job.json',
  'requirements.txt',
  'rewards.py',
  'train.py',
];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

describe('vgrpo export-trl', () => {
  it.each(['nano-demo', 'tutorial'])('writes the project for the %s preset', async (preset) => {
    const out = fresh();
    const r = await vgrpo(['export-trl', '--preset', preset, '--synthetic-rows', '6', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const files = listFiles(out);
    const images = files.filter((f) => f.startsWith('data/images/'));
    expect(files.filter((f) => !f.startsWith('data/images/') && !f.startsWith('model/'))).toEqual(FILES);
    expect(files.filter((f) => f.startsWith('model/'))).toContain('model/model.safetensors');
    expect(images).toHaveLength(6);

    const job = JSON.parse(readFileSync(join(out, 'job.json'), 'utf8'));
    const config = resolveConfig({}, { preset });
    const { grpoConfig } = trlKwargs(config);
    delete grpoConfig.eval_steps;
    expect(job.grpo_config).toEqual({ ...grpoConfig, eval_strategy: 'no' });
    expect(job.model).toBe('model');
    expect(job.box_space).toBe('pixels');
    expect(job.reward_funcs).toEqual(config.reward_funcs);
    expect(job.prefill).toBe(config.assistant_prefill);
    expect(readFileSync(join(out, 'requirements.txt'), 'utf8')).toMatch(/^trl==1\.13\.0$/m);
    expect(readFileSync(join(out, 'train.py'), 'utf8')).toMatch(/GRPOTrainer\(/);
    expect(readFileSync(join(out, 'accelerate/zero3-8gpu.yaml'), 'utf8')).toMatch(/zero_stage: 3/);
  });

  it('keeps the settings: GRPOConfig kwargs resolve back to the same config', () => {
    for (const preset of ['nano-demo', 'tutorial']) {
      const config = resolveConfig(
        { use_peft: true, lora_r: 8, warmup_ratio: 0.1, lr_scheduler_type: 'cosine' },
        { preset },
      );
      const { grpoConfig, modelConfig } = trlKwargs(config);
      const ours = Object.fromEntries(
        NOT_TRL_FIELDS.filter((k) => k !== 'warmup_ratio').map((k) => [k, config[k]]),
      );
      const back: GrpoConfig = resolveConfig({ ...grpoConfig, ...modelConfig, ...ours }, {});
      // transformers 5 folds warmup_ratio into a fractional warmup_steps: the same warm-up either way.
      for (const field of CONFIG_FIELDS)
        if (field !== 'warmup_ratio' && field !== 'warmup_steps')
          expect(back[field], field).toEqual(config[field]);
      expect(warmupSteps(back, 200)).toBe(warmupSteps(config, 200));
      expect(warmupSteps(config, 200)).toBe(20);
    }
  });

  it('writes the rows with the reward columns and their own pixels', async () => {
    const out = fresh();
    const r = await vgrpo(['export-trl', '--synthetic-rows', '4', '--synthetic-seed', '9', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const rows = syntheticDataset(9, 4, NANO_TASK);
    const lines = readFileSync(join(out, 'data/train.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    for (const [i, line] of lines.entries()) {
      const row = rows[i]!;
      const [h, w] = smartResize(row.height, row.width, 28, 3136, 50176);
      expect(line).toEqual({
        id: row.id,
        image: `images/${String(i).padStart(6, '0')}.png`,
        question: row.question,
        box: row.box,
        width: row.width,
        height: row.height,
        input_width: w,
        input_height: h,
      });
      const png = await decodeImage(new Uint8Array(readFileSync(join(out, 'data', line.image))));
      expect(Buffer.from(toRgb(png)).equals(Buffer.from(toRgb(await row.image())))).toBe(true);
    }
  });

  it('names the box space and LoRA targets of a hub model', async () => {
    const dir = fresh();
    const config = join(dir, 'lora.json');
    writeFileSync(config, JSON.stringify({ use_peft: true, lora_r: 8 }));
    const out = join(dir, 'job');
    const r = await vgrpo(
      ['export-trl', '--model', 'Qwen/Qwen2.5-VL-3B-Instruct', '--config', config].concat([
        '--synthetic-rows',
        '2',
        '--out',
        out,
      ]),
    );
    expect(r.code, r.stderr).toBe(0);
    const job = JSON.parse(readFileSync(join(out, 'job.json'), 'utf8'));
    expect(job.model).toBe('Qwen/Qwen2.5-VL-3B-Instruct');
    // Qwen2.5-VL answers in pixels of its resized input; the targets stay in the decoder's layers (its
    // vision MLP has gate / up / down projections too).
    expect(job.box_space).toBe('input-pixels');
    expect(job.lora).toEqual({
      r: 8,
      lora_alpha: 32,
      lora_dropout: 0.05,
      target_modules: peftTargetModules(DEFAULT_LORA_TARGETS),
    });
    const targets = new RegExp(`^(?:${job.lora.target_modules})$`);
    expect(targets.test('model.language_model.layers.3.mlp.gate_proj')).toBe(true);
    expect(targets.test('model.visual.blocks.3.mlp.gate_proj')).toBe(false);
  });

  it('refuses a model it cannot place', async () => {
    const r = await vgrpo(['export-trl', '--model', 'someone/other-model', '--out', fresh()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/neither a folder with a config\.json nor a Qwen2-VL \/ Qwen2\.5-VL hub id/);
  });
});
