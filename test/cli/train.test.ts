// `vgrpo train` through the real binary on nano with tiny settings from a YAML file: the files a run
// writes (metrics.jsonl with TRL's names, samples.jsonl, eval.jsonl, checkpoint-STEP/), resuming from a
// checkpoint, Ctrl-C saving a checkpoint before exit 130, a bad config or dataset exiting 1 with a
// message that names the problem, and a run over the memory plan refused before anything loads.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vgrpo } from './vgrpo.ts';

const dir = mkdtempSync(join(tmpdir(), 'vgrpo-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tiny = join(dir, 'tiny.yaml');
writeFileSync(
  tiny,
  [
    'num_generations: 2',
    'per_device_train_batch_size: 2',
    'gradient_accumulation_steps: 1',
    'max_completion_length: 8',
    'eval_steps: 1',
    'save_steps: 1',
    '',
  ].join('\n'),
);
const common = ['--config', tiny, '--synthetic-rows', '8', '--eval-rows', '2'];
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('vgrpo train', () => {
  const out = join(dir, 'run');

  it('writes metrics, samples, evaluations and checkpoints', async () => {
    const r = await vgrpo(['train', ...common, '--max-steps', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/step 1\/1 \[#+\] 100%/);
    const [m] = lines(join(out, 'metrics.jsonl'));
    expect(m!.step).toBe(1);
    for (const k of [
      'loss',
      'reward',
      'rewards/grounding/mean',
      'rewards/format/mean',
      'entropy',
      'grad_norm',
    ])
      expect(m).toHaveProperty([k]);
    const samples = lines(join(out, 'samples.jsonl'));
    expect(samples).toHaveLength(1);
    expect((samples[0]!.completions as unknown[]).length).toBe(2);
    const evals = lines(join(out, 'eval.jsonl'));
    expect(evals.map((e) => e.step)).toEqual([0, 1]);
    expect(evals[1]).toMatchObject({ n: 2 });
    for (const f of ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json'])
      expect(existsSync(join(out, 'checkpoint-1', f)), f).toBe(true);
  });

  it('resumes from a checkpoint', async () => {
    const r = await vgrpo([
      'train',
      ...common,
      '--max-steps',
      '2',
      '--out',
      out,
      '--resume',
      join(out, 'checkpoint-1'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('resumed from');
    expect(lines(join(out, 'metrics.jsonl')).map((m) => m.step)).toEqual([1, 2]);
    expect(existsSync(join(out, 'checkpoint-2', 'trainer_state.json'))).toBe(true);
  });

  it('saves a checkpoint on Ctrl-C and exits 130', async () => {
    const run = join(dir, 'interrupted');
    const child = spawn(
      process.execPath,
      ['bin/vgrpo.js', 'train', ...common, '--max-steps', '50', '--eval-rows', '0', '--out', run],
      { cwd: new URL('../../', import.meta.url).pathname, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/step 1\/50/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/checkpoint saved to .*checkpoint-\d+/);
    const saved = /checkpoint saved to (\S+)/.exec(stderr)![1]!;
    expect(existsSync(join(saved, 'trainer_state.json'))).toBe(true);
  });

  it('a bad config or dataset exits 1 naming the problem', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ learning_rate: 'fast' }));
    const r1 = await vgrpo(['train', '--config', bad, '--out', join(dir, 'x')]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain('learning_rate');
    const r2 = await vgrpo(['train', '--dataset', join(dir, 'missing'), '--out', join(dir, 'y')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('no such file or folder');
  });

  it('prints the memory plan first and refuses a run that does not fit, with what would', async () => {
    const ok = await vgrpo(['plan', '--json', '--config', tiny, '--memory', '8']);
    const total = (JSON.parse(ok.stdout) as { bytes: { total: number } }).bytes.total;
    const short = String((total * 0.9) / 2 ** 30);
    const r = await vgrpo(['train', ...common, '--memory', short, '--out', join(dir, 'z')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/memory plan: .* of [\d.]+ (MiB|KiB)/);
    expect(r.stderr).toMatch(/it does not fit: it needs/);
    expect(r.stderr).toMatch(/any one of these would make it fit: /);
    expect(r.stderr).toMatch(/the run does not fit this device/);
    expect(existsSync(join(dir, 'z'))).toBe(false);
  });
});
