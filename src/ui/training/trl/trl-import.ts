// Opening a TRL run in the app: the dropped folder (an exported job after its train.py ran, or TRL's
// output folder) read on the page by src/grpo/trl/import.ts into the run view, so the charts, the batch
// and the samples table show it; the latest logged generation's images made small for the batch view;
// and the run's weights made the model to train further from: its LoRA adapter beside the model folder
// the drop holds (the job's model/), or the fully trained model TRL saved.
import type { DroppedEntry } from '../../../data/files/drop-browser.ts';
import { basename, dirname, droppedFileFromFile } from '../../../data/files/files.ts';
import { decodeImageBrowser } from '../../../data/image/image-decode-browser.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../../grpo/adapter.ts';
import { type ImportedTrlRun, importTrlRun, TrlImportError } from '../../../grpo/trl/import.ts';
import { type Thumbnail, thumbnail } from '../../../grpo/worker/thumbnail.ts';
import type { ModelChoice } from '../model-choice.ts';
import { INITIAL_RUN, MAX_RECORDS, type RunView } from '../run-store.ts';
import { runStore } from '../useRun.ts';

/** Whether dropped files are a trained run (a trainer_state.json among them) rather than a model or dataset. */
export function isTrlRun(entries: readonly { path: string }[]): boolean {
  return entries.some((e) => basename(e.path) === 'trainer_state.json');
}

/** Folders of the drop that hold a checkpoint: config.json beside safetensors weights. */
function modelFolders(entries: readonly DroppedEntry[]): string[] {
  const configs = entries.filter((e) => basename(e.path) === 'config.json').map((e) => dirname(e.path));
  return configs.filter((dir) =>
    entries.some(
      (e) => dirname(e.path) === dir && /\.safetensors$/i.test(e.path) && !e.path.endsWith(ADAPTER_WEIGHTS),
    ),
  );
}

const filesIn = (entries: readonly DroppedEntry[], dir: string) =>
  entries.filter((e) => dirname(e.path) === dir).map((e) => e.file);

/** The model to train further from, and what the panel says about it. */
export function trainedModel(
  run: ImportedTrlRun,
  entries: readonly DroppedEntry[],
): { model: ModelChoice | null; note: string } {
  const folders = modelFolders(entries);
  if (run.adapter) {
    const adapterDir = run.adapter.path;
    const named =
      typeof run.job?.model === 'string' && run.jobPath !== null
        ? `${dirname(run.jobPath)}/${run.job.model}`.replace(/^\//, '')
        : null;
    const dir = folders.find((f) => f === named) ?? folders.find((f) => f !== adapterDir);
    if (dir === undefined)
      return {
        model: null,
        note:
          `Its LoRA adapter (${adapterDir || 'the top folder'}) needs the model TRL trained ` +
          `(${typeof run.job?.model === 'string' ? run.job.model : 'see its adapter_config.json'}): put that model's folder ` +
          'in the job folder and drop it again to train the adapter further here.',
      };
    const adapter = entries.filter(
      (e) => dirname(e.path) === adapterDir && [ADAPTER_CONFIG, ADAPTER_WEIGHTS].includes(basename(e.path)),
    );
    return {
      model: {
        source: { kind: 'files', files: [...filesIn(entries, dir), ...adapter.map((e) => e.file)] },
        label: `the model in ${dir || 'the drop'} with the TRL run's LoRA adapter`,
      },
      note: `Train continues its LoRA adapter on the model in ${dir || 'the drop'}.`,
    };
  }
  const output = dirname(run.statePath);
  if (folders.includes(output))
    return {
      model: {
        source: { kind: 'files', files: filesIn(entries, output) },
        label: `the model TRL trained (${output || 'the drop'})`,
      },
      note: `Train continues from the model TRL trained (${output || 'the drop'}).`,
    };
  return {
    model: null,
    note: 'The drop holds neither a LoRA adapter nor the trained model, so only its logs are shown.',
  };
}

/** The run view of an imported run: its metrics, its records, and its latest generation as the batch. */
export function importedRunView(run: ImportedTrlRun, images: (Thumbnail | null)[], adapter: string): RunView {
  const last = run.records.at(-1)?.step;
  return {
    ...INITIAL_RUN,
    state: 'finished',
    step: run.step,
    totalSteps: run.maxSteps,
    history: run.metrics.map(({ step, ...metrics }) => ({ step, metrics, logged: metrics })),
    batch: run.records.filter((r) => r.step === last),
    batchImages: images,
    records: run.records.slice(-MAX_RECORDS),
    warnings: run.warnings,
    imported: { source: run.statePath, step: run.step, maxSteps: run.maxSteps, config: run.config, adapter },
  };
}

/** Reads a dropped TRL run; TrlImportError says what to drop instead. */
export async function openTrlRun(
  entries: readonly DroppedEntry[],
): Promise<{ view: RunView; model: ModelChoice | null }> {
  const run = await importTrlRun(entries.map((e) => droppedFileFromFile(e.file, e.path)));
  const last = run.records.at(-1)?.step;
  const batch = run.records.filter((r) => r.step === last);
  const images = await Promise.all(
    batch.map(async (r) => {
      const file = run.rows.get(r.id)?.image;
      if (!file) return null;
      try {
        return thumbnail(await decodeImageBrowser(await file.read(), file.path));
      } catch {
        return null;
      }
    }),
  );
  const { model, note } = trainedModel(run, entries);
  return { view: importedRunView(run, images, note), model };
}

/** Opens a dropped TRL run in the run view and makes its weights the model; a bad drop shows what to do. */
export async function showTrlRun(entries: readonly DroppedEntry[], onModel: (model: ModelChoice) => void) {
  const store = runStore.getState();
  const fail = (message: string) =>
    store.apply({ type: 'error', kind: 'request', name: 'TrlImportError', message, recoverable: true });
  const state = store.run.state;
  if (state === 'running' || state === 'paused' || state === 'starting')
    return fail('Stop the run in progress before opening a TRL run.');
  try {
    const { view, model } = await openTrlRun(entries);
    store.show(view);
    if (model) onModel(model);
  } catch (e) {
    fail(e instanceof TrlImportError ? e.message : `The TRL run could not be read: ${(e as Error).message}`);
  }
}
