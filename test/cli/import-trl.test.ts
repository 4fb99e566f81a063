// `vgrpo import-trl` on the TRL run recorded by scripts/make-trl-output-fixture.py: the run files it writes
// (TRL's logged lines, every completion, the adapter as TRL saved it) and that `vgrpo eval` takes the
// adapter; the output folder named alone is read with its job around it; the error exits.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vgrpo } from './vgrpo.ts';

const RUN = new URL('../fixtures/trl-bridge/run', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(RUN, 'expected.json'), 'utf8')) as {
  log_history: Record<string, number>[];
  tables: { rows: { completion: string }[] }[];
};
const tmp = mkdtempSync(join(tmpdir(), 'vgrpo-import-trl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('vgrpo import-trl', () => {
  it('writes metrics.jsonl, samples.jsonl and the adapter, which vgrpo eval then uses', async () => {
    const out = join(tmp, 'a');
    const r = await vgrpo(['import-trl', RUN, '--model', 'nano', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'step 2 of 2, 2 logged steps, 4 prompts with 16 completions, the LoRA adapter',
    );
    expect(r.stderr).not.toContain('warning');
    const metrics = jsonl(join(out, 'metrics.jsonl'));
    expect(metrics).toEqual(expected.log_history.filter((e) => !('train_runtime' in e)));
    const samples = jsonl(join(out, 'samples.jsonl'));
    expect(samples.flatMap((s) => s.completions.map((c: { text: string }) => c.text))).toEqual(
      expected.tables.flatMap((t) => t.rows.map((x) => x.completion)),
    );
    expect(readFileSync(join(out, 'adapter/adapter_model.safetensors'))).toEqual(
      readFileSync(join(RUN, 'output/adapter_model.safetensors')),
    );
    expect(JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(join(RUN, 'output/adapter_config.json'), 'utf8')),
    );
    const e = await vgrpo(['eval', '--adapter', join(out, 'adapter'), '--limit', '2', '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).n).toBe(2);
  });

  it('the output folder named alone is read with the job around it; an unchecked adapter is said', async () => {
    const out = join(tmp, 'b');
    const r = await vgrpo(['import-trl', join(RUN, 'output'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl(join(out, 'samples.jsonl'))).toHaveLength(4);
    expect(r.stderr).toMatch(/warning: the adapter was not checked against its model .*pass --model DIR/);
  });

  it('exits 2 without DIR or --out and 1 for a folder that holds no TRL run', async () => {
    expect((await vgrpo(['import-trl', '--out', join(tmp, 'c')])).code).toBe(2);
    expect((await vgrpo(['import-trl', RUN])).code).toBe(2);
    const r = await vgrpo(['import-trl', join(RUN, 'data'), '--out', join(tmp, 'c')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("holds no trainer_state.json: drop a TRL run's output folder");
  });
});
