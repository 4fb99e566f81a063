// Bringing a TRL run back (src/grpo/trl/import.ts) on a run recorded by scripts/make-trl-output-fixture.py:
// the exported nano job trained 2 steps by TRL's GRPOTrainer. The metrics against TRL's log_history,
// every completion against what pandas read from TRL's tables, its box and IoU against rewards.py's
// parser, the adapter loaded on nano against the sums safetensors gave; then partial drops (the output
// folder alone, one checkpoint), a generation logged twice, and damaged files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPromptModel } from '../../../src/cli/model-input.ts';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { droppedFilesFromDirectory } from '../../../src/data/files/files-node.ts';
import { resolveConfig } from '../../../src/grpo/config.ts';
import { importTrlRun, restoreBoxMarkers, TrlImportError } from '../../../src/grpo/trl/import.ts';
import { importPeft } from '../../../src/model/lora.ts';
import { setupGpu } from '../../helpers.ts';

const RUN = new URL('../../fixtures/trl-bridge/run', import.meta.url).pathname;

interface ExpectedRow {
  step: number;
  id: string;
  completion: string;
  rewards: Record<string, number>;
  advantage: number;
  box: number[] | null;
  iou: number;
}
const expected = JSON.parse(readFileSync(join(RUN, 'expected.json'), 'utf8')) as {
  global_step: number;
  max_steps: number;
  log_history: Record<string, number>[];
  tables: { file: string; rows: ExpectedRow[] }[];
  adapter_tensors: Record<string, { shape: number[]; sum: number }>;
};

/** The fixture as a drop of the folder `prefix`, with the paths `keep` picks. */
async function drop(prefix: string, keep: (path: string) => boolean = () => true): Promise<DroppedFile[]> {
  const files = (await droppedFilesFromDirectory(RUN)).filter(
    (f) => f.path !== 'expected.json' && keep(f.path),
  );
  return Promise.all(files.map(async (f) => droppedFileFromBytes(`${prefix}/${f.path}`, await f.read())));
}

const gpu = setupGpu();

describe('importTrlRun on a recorded TRL run', () => {
  it('reads the metrics TRL logged, the summary line left out', async () => {
    const run = await importTrlRun(await drop('job'));
    expect(run.statePath).toBe('job/output/trainer_state.json');
    expect(run.step).toBe(expected.global_step);
    expect(run.maxSteps).toBe(expected.max_steps);
    const logged = expected.log_history.filter((e) => !('train_runtime' in e));
    expect(run.metrics).toHaveLength(logged.length);
    expect(run.metrics.length).toBe(expected.global_step);
    for (const [i, line] of run.metrics.entries()) {
      const { step, ...values } = logged[i]!;
      expect(line.step).toBe(step);
      for (const [k, v] of Object.entries(values)) expect(line[k], k).toBe(v);
      // The names our trainer logs are among TRL's.
      for (const name of [
        'loss',
        'reward',
        'reward_std',
        'rewards/grounding/mean',
        'completions/mean_length',
      ])
        expect(typeof line[name], name).toBe('number');
    }
    expect(run.warnings).toEqual([]);
  });

  it('reads every completion with its rewards, advantage, box and IoU, grouped by prompt', async () => {
    const run = await importTrlRun(await drop('job'));
    const rows = expected.tables.flatMap((t) => t.rows);
    const got = run.records.flatMap((r) => r.completions.map((c) => ({ r, c })));
    expect(got).toHaveLength(rows.length);
    for (const [i, want] of rows.entries()) {
      const { r, c } = got[i]!;
      expect(r.step).toBe(want.step);
      expect(r.id).toBe(want.id);
      expect(c.text).toBe(want.completion);
      expect(c.rewards).toEqual(want.rewards);
      expect(c.reward).toBeCloseTo(
        Object.values(want.rewards).reduce((a, b) => a + b, 0),
        12,
      );
      expect(c.advantage).toBe(want.advantage);
      expect(c.box === null ? null : [...c.box]).toEqual(want.box);
      expect(c.iou ?? 0).toBeCloseTo(want.iou, 12);
      expect(c.tokens).toBeNull();
    }
    // A group holds the G completions of one prompt; its row supplies the question, box and image.
    const data = readFileSync(join(RUN, 'data/train.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const r of run.records) {
      expect(r.completions).toHaveLength(4);
      const row = data.find((d) => d.id === r.id);
      expect(r.question).toBe(row.question);
      expect([...r.box]).toEqual(row.box);
      expect(r.frame).toEqual({ width: row.width, height: row.height, inputWidth: 84, inputHeight: 84 });
      expect(run.rows.get(r.id)!.image!.path).toBe(`job/data/${row.image}`);
    }
  });

  it("loads the adapter on nano: every tensor TRL saved, with TRL's values", async () => {
    const g = gpu();
    const run = await importTrlRun(await drop('job'));
    expect(run.adapter!.path).toBe('job/output');
    const model = await loadPromptModel('nano');
    const lora = await importPeft(g, model.config, run.adapter!);
    try {
      expect(lora.adapters.size * 2).toBe(Object.keys(expected.adapter_tensors).length);
      for (const [name, { shape, sum }] of Object.entries(expected.adapter_tensors)) {
        const m = /^base_model\.model\.model\.language_model\.(.+)\.lora_([AB])\.weight$/.exec(name)!;
        const ad = lora.adapters.get(`model.${m[1]}`) ?? lora.adapters.get(m[1]!);
        expect(ad, name).toBeDefined();
        const t = m[2] === 'A' ? ad!.A : ad!.B;
        expect([...t.shape]).toEqual(shape);
        const values = await g.read(t);
        let s = 0;
        for (const v of values) s += v;
        expect(s).toBeCloseTo(sum, 4);
      }
    } finally {
      lora.dispose();
    }
  });

  it("takes the run's settings from job.json: the config the recipe exported, eval aside", async () => {
    const run = await importTrlRun(await drop('job'));
    // scripts/make-trl-output-fixture.py's CONFIG.
    const exported = resolveConfig(
      {
        use_peft: true,
        lora_r: 2,
        lora_alpha: 4,
        num_generations: 4,
        per_device_train_batch_size: 8,
        gradient_accumulation_steps: 1,
        max_completion_length: 48,
        max_steps: 2,
        save_steps: 1,
        logging_steps: 1,
      },
      { preset: 'nano-demo' },
    );
    // The job trains without our held-out evaluation; the box space is the one resolved for nano.
    expect({ ...run.config, eval_steps: null, lora_target_modules: [] }).toEqual({
      ...exported,
      eval_steps: null,
      box_space: 'pixels',
      lora_target_modules: [],
    });
    // Without job.json: the defaults, with the rewards TRL logged.
    const alone = await importTrlRun(await drop('output', (p) => p.startsWith('output/')));
    expect([...alone.config.reward_funcs].sort()).toEqual(['format', 'grounding']);
  });

  it('the output folder alone: metrics and adapter, no samples, and says to drop the job folder', async () => {
    const run = await importTrlRun(await drop('output', (p) => p.startsWith('output/')));
    expect(run.step).toBe(expected.global_step);
    expect(run.records).toEqual([]);
    expect(run.adapter).not.toBeNull();
    expect(run.warnings.join('\n')).toMatch(/no job\.json.*drop the exported job's folder/s);
  });

  it('one checkpoint folder: its own state', async () => {
    const run = await importTrlRun(await drop('checkpoint-1', (p) => p.startsWith('output/checkpoint-1/')));
    expect(run.step).toBe(1);
    expect(run.metrics.map((m) => m.step)).toEqual([1]);
    expect(run.warnings.join('\n')).toMatch(/no adapter_config\.json/);
  });

  it('the latest state wins over an earlier checkpoint, and a generation logged twice is read once', async () => {
    const files = await drop('job', (p) => !p.includes('completions_00002'));
    const first = files.find((f) => f.path.endsWith('completions_00001.parquet'))!;
    files.push(droppedFileFromBytes('job/output/completions/completions_00002.parquet', await first.read()));
    const run = await importTrlRun(files);
    expect(run.step).toBe(2);
    expect(run.records.flatMap((r) => r.completions)).toHaveLength(expected.tables[0]!.rows.length);
  });

  it('damaged or missing files give errors that say what to drop', async () => {
    await expect(importTrlRun(await drop('job', (p) => !p.endsWith('trainer_state.json')))).rejects.toThrow(
      /holds no trainer_state\.json: drop a TRL run's output folder/,
    );
    const broken = await drop('job', (p) => p !== 'output/trainer_state.json');
    broken.push(
      droppedFileFromBytes('job/output/trainer_state.json', new TextEncoder().encode('{"global_st')),
    );
    await expect(importTrlRun(broken)).rejects.toThrow(TrlImportError);
    await expect(importTrlRun(broken)).rejects.toThrow(/job\/output\/trainer_state\.json is not valid JSON/);
    const notState = await drop('job', (p) => p !== 'output/trainer_state.json');
    notState.push(
      droppedFileFromBytes('job/output/trainer_state.json', new TextEncoder().encode('{"a": 1}')),
    );
    await expect(importTrlRun(notState)).rejects.toThrow(/not a transformers trainer state/);
    const badTable = await drop('job', (p) => !p.includes('completions_00002'));
    badTable.push(
      droppedFileFromBytes(
        'job/output/completions/completions_00002.parquet',
        new Uint8Array([80, 65, 82, 49, 0]),
      ),
    );
    await expect(importTrlRun(badTable)).rejects.toThrow(
      /completions_00002\.parquet cannot be read as Parquet/,
    );
  });
});

describe('restoreBoxMarkers', () => {
  it("puts back the Qwen2-VL markers TRL's decoding dropped, and leaves other answers alone", () => {
    expect(restoreBoxMarkers('a</think><answer>(1,2),(3,4)</answer>')).toBe(
      'a</think><answer><|box_start|>(1,2),(3,4)<|box_end|></answer>',
    );
    for (const text of [
      'a</think><answer>[1, 2, 3, 4]</answer>',
      '<answer><|box_start|>(1,2),(3,4)<|box_end|></answer>',
      '<answer>(1,2),(3,4),(5,6)</answer>',
      'no answer (1,2),(3,4)',
    ])
      expect(restoreBoxMarkers(text)).toBe(text);
  });
});
