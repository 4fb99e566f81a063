// Stored runs as the page uses them: what a stored run needs to be resumed (its model and dataset, or
// what to open first), and an export's files packed as one zip to download.
import { zipSync } from 'fflate';
import type { DatasetSource, ExportedFile, ExportWhat } from '../../../grpo/worker/protocol.ts';
import type { StoredRun } from '../../../grpo/worker/run-store.ts';
import type { ModelChoice } from '../model-choice.ts';

/** The worker's name for the synthetic set (src/grpo/worker/worker.ts syntheticName). */
const SYNTHETIC_NAME = /^synthetic \(seed (\d+), (\d+) rows\)$/;

export type ResumePlan =
  | { ok: true; model: ModelChoice['source']; dataset: DatasetSource }
  | { ok: false; reason: string };

/**
 * How `run` can be resumed from the page: nano runs on nano, a dropped checkpoint's runs on the model folder
 * picked now (the worker checks its type), synthetic runs on their set, other runs on the dataset the
 * panel has opened when its name is the run's.
 */
export function resumePlan(
  run: Pick<StoredRun, 'model' | 'dataset'>,
  model: ModelChoice,
  openedDataset: string | null,
): ResumePlan {
  let source: ModelChoice['source'];
  if (run.model === 'nano') source = { kind: 'nano' };
  else if (model.source.kind !== 'nano') source = model.source;
  else
    return {
      ok: false,
      reason: `pick the ${run.model} model folder this run was trained from, then resume`,
    };
  const synthetic = SYNTHETIC_NAME.exec(run.dataset);
  if (synthetic)
    return {
      ok: true,
      model: source,
      dataset: { kind: 'synthetic', seed: Number(synthetic[1]), count: Number(synthetic[2]) },
    };
  if (openedDataset !== run.dataset)
    return { ok: false, reason: `open the dataset ${run.dataset} in the dataset panel, then resume` };
  return { ok: true, model: source, dataset: { kind: 'opened' } };
}

/** An export as one zip: its files in a folder named for the run, the step and what was exported. */
export function exportArchive(
  runId: string,
  what: ExportWhat,
  step: number,
  files: readonly ExportedFile[],
): { name: string; bytes: Uint8Array } {
  const folder = `${runId}-${what}-step${step}`;
  const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  // Weights barely compress; storing them keeps a large export fast.
  for (const f of files)
    entries[`${folder}/${f.name}`] = [f.bytes, { level: f.name.endsWith('.safetensors') ? 0 : 6 }];
  return { name: `${folder}.zip`, bytes: zipSync(entries) };
}
