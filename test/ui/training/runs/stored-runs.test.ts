// Stored runs in the page: what resuming one needs, and an export packed as one zip.
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { NANO_MODEL } from '../../../../src/ui/training/model-choice.ts';
import { exportArchive, resumePlan } from '../../../../src/ui/training/runs/stored-runs.ts';

const folder = {
  source: { kind: 'files' as const, files: [] as File[] },
  label: 'qwen2-vl-2b',
};

describe('resumePlan', () => {
  it('resumes a nano run on nano and its synthetic set, whatever the page has picked', () => {
    expect(resumePlan({ model: 'nano', dataset: 'synthetic (seed 1, 2000 rows)' }, folder, 'other')).toEqual({
      ok: true,
      model: { kind: 'nano' },
      dataset: { kind: 'synthetic', seed: 1, count: 2000 },
    });
  });

  it('resumes on the opened dataset only when its name is the run’s', () => {
    const run = { model: 'nano', dataset: 'refcoco.zip' };
    expect(resumePlan(run, NANO_MODEL, 'refcoco.zip')).toEqual({
      ok: true,
      model: { kind: 'nano' },
      dataset: { kind: 'opened' },
    });
    const other = resumePlan(run, NANO_MODEL, 'other.zip');
    expect(other.ok).toBe(false);
    if (!other.ok)
      expect(other.reason).toBe('open the dataset refcoco.zip in the dataset panel, then resume');
    expect(resumePlan(run, NANO_MODEL, null).ok).toBe(false);
  });

  it('needs the model folder picked for a run of a dropped checkpoint', () => {
    const run = { model: 'qwen2_vl', dataset: 'synthetic (seed 3, 40 rows)' };
    const plan = resumePlan(run, NANO_MODEL, null);
    expect(plan).toEqual({
      ok: false,
      reason: 'pick the qwen2_vl model folder this run was trained from, then resume',
    });
    expect(resumePlan(run, folder, null)).toEqual({
      ok: true,
      model: folder.source,
      dataset: { kind: 'synthetic', seed: 3, count: 40 },
    });
  });

  it('does not read a dataset merely named like the synthetic set as synthetic', () => {
    expect(
      resumePlan({ model: 'nano', dataset: 'synthetic (seed 1, 2000 rows).zip' }, NANO_MODEL, null).ok,
    ).toBe(false);
  });
});

describe('exportArchive', () => {
  it('packs the files in one folder named for the run, what and step; weights stored as they are', () => {
    const weights = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    const config = new TextEncoder().encode('{"r": 8}'.repeat(50));
    const zip = exportArchive('20261203-0700-ab12', 'adapter', 40, [
      { name: 'adapter_config.json', bytes: config },
      { name: 'adapter_model.safetensors', bytes: weights },
    ]);
    expect(zip.name).toBe('20261203-0700-ab12-adapter-step40.zip');
    const files = unzipSync(zip.bytes);
    expect(Object.keys(files).sort()).toEqual([
      '20261203-0700-ab12-adapter-step40/adapter_config.json',
      '20261203-0700-ab12-adapter-step40/adapter_model.safetensors',
    ]);
    expect(files['20261203-0700-ab12-adapter-step40/adapter_model.safetensors']).toEqual(weights);
    expect(files['20261203-0700-ab12-adapter-step40/adapter_config.json']).toEqual(config);
    // Stored: the weights' bytes appear in the zip unchanged; the repetitive JSON is deflated.
    const text = Buffer.from(zip.bytes);
    expect(text.indexOf(Buffer.from(weights))).toBeGreaterThan(0);
    expect(text.indexOf(Buffer.from(config))).toBe(-1);
  });
});
