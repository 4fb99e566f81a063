// The app's side of opening a TRL run (src/ui/training/trl/trl-import.ts), on the recorded run of
// test/fixtures/trl-bridge/run: a drop with a trainer_state.json is a run, the view carries its metrics as
// the charts read them and its latest generation as the batch, and its LoRA adapter goes with the model
// folder the drop holds (or the panel says what to add).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DroppedEntry } from '../../../../src/data/files/drop-browser.ts';
import { droppedFilesFromDirectory } from '../../../../src/data/files/files-node.ts';
import { importTrlRun } from '../../../../src/grpo/trl/import.ts';
import { viewConfig } from '../../../../src/ui/training/run-store.ts';
import { importedRunView, isTrlRun, trainedModel } from '../../../../src/ui/training/trl/trl-import.ts';

const RUN = new URL('../../../fixtures/trl-bridge/run', import.meta.url).pathname;
const NANO = new URL('../../../../public/nano', import.meta.url).pathname;

async function entries(dir: string, prefix: string): Promise<DroppedEntry[]> {
  const files = await droppedFilesFromDirectory(dir);
  return Promise.all(
    files.map(async (f) => {
      const path = `${prefix}/${f.path}`;
      return { path, file: new File([await readFile(join(dir, f.path))], f.path.split('/').pop()!) };
    }),
  );
}

const asFiles = async (list: DroppedEntry[]) => {
  const { droppedFileFromFile } = await import('../../../../src/data/files/files.ts');
  return list.map((e) => droppedFileFromFile(e.file, e.path));
};

describe('opening a TRL run in the app', () => {
  it('tells a run from a model or a dataset by its trainer_state.json', async () => {
    const job = await entries(RUN, 'job');
    expect(isTrlRun(job)).toBe(true);
    expect(isTrlRun(job.filter((e) => !e.path.endsWith('trainer_state.json')))).toBe(false);
  });

  it('shows its metrics, its latest generation as the batch and every record, with its settings', async () => {
    const job = await entries(RUN, 'job');
    const run = await importTrlRun(await asFiles(job));
    const view = importedRunView(run, [null, null], 'note');
    expect(view.state).toBe('finished');
    expect(view.history.map((h) => h.step)).toEqual([1, 2]);
    expect(view.history[1]!.logged!.reward).toBe(run.metrics[1]!.reward);
    expect(view.batch.every((r) => r.step === 2)).toBe(true);
    expect(view.batch).toHaveLength(2);
    expect(view.records).toHaveLength(4);
    expect(viewConfig(view)?.num_generations).toBe(4);
    expect(view.imported?.adapter).toBe('note');
  });

  it('pairs the LoRA adapter with the model folder in the drop, and says what to add when there is none', async () => {
    const bare = await entries(RUN, 'job');
    const run = await importTrlRun(await asFiles(bare));
    const none = trainedModel(run, bare);
    expect(none.model).toBeNull();
    expect(none.note).toMatch(
      /needs the model TRL trained \(model\): put that model's folder in the job folder/,
    );

    const withModel = [...bare, ...(await entries(NANO, 'job/model'))];
    const paired = trainedModel(run, withModel);
    expect(paired.model?.label).toBe("the model in job/model with the TRL run's LoRA adapter");
    const names = paired.model?.source.kind === 'files' ? paired.model.source.files.map((f) => f.name) : [];
    expect(names).toEqual(
      expect.arrayContaining([
        'config.json',
        'model.safetensors',
        'adapter_config.json',
        'adapter_model.safetensors',
      ]),
    );
    expect(names).not.toContain('trainer_state.json');
  });
});
