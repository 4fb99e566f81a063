// "Export as a TRL job": the settings in the form, on the chosen model and dataset, as a zip of the
// Python project TRL's GRPOTrainer runs (src/grpo/trl/job.ts), for a GPU or a cluster. For a dropped
// model folder the person names what train.py loads (a hub id, or the folder placed beside it).
import { zipSync } from 'fflate';
import { useEffect, useRef, useState } from 'react';
import type { GrpoConfig } from '../../../grpo/config.ts';
import type { DatasetSource, WorkerEvent } from '../../../grpo/worker/protocol.ts';
import { onWorkerEvent, postToWorker, requestId } from '../../grpo-worker.ts';
import type { ModelChoice } from '../model-choice.ts';
import { saveFile } from '../runs/useStoredRuns.ts';

export function TrlExport(props: {
  model: ModelChoice;
  dataset: DatasetSource;
  preset: string;
  /** The form's settings; null while the form has an error. */
  config: Partial<GrpoConfig> | null;
}) {
  const { model, dataset, preset, config } = props;
  const [modelName, setModelName] = useState('');
  const [state, setState] = useState<{ busy: boolean; error: string | null; saved: string | null }>({
    busy: false,
    error: null,
    saved: null,
  });
  const waiting = useRef<number | null>(null);
  useEffect(
    () =>
      onWorkerEvent((event: WorkerEvent) => {
        if (!('id' in event) || event.id !== waiting.current) return;
        waiting.current = null;
        if (event.type === 'trl-job') {
          const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
          for (const f of event.files)
            entries[`${event.name}/${f.name}`] = [
              f.bytes,
              { level: /\.(png|safetensors)$/.test(f.name) ? 0 : 6 },
            ];
          const name = `${event.name}.zip`;
          saveFile(name, zipSync(entries), 'application/zip');
          setState({ busy: false, error: null, saved: name });
        } else if (event.type === 'error') setState({ busy: false, error: event.message, saved: null });
      }),
    [],
  );
  const folder = model.source.kind === 'files';
  const exportJob = () => {
    if (config === null) return;
    const id = requestId();
    waiting.current = id;
    setState({ busy: true, error: null, saved: null });
    postToWorker({
      type: 'export-trl',
      id,
      model: model.source,
      dataset,
      preset,
      config,
      ...(folder && modelName.trim() !== '' ? { modelName: modelName.trim() } : {}),
    });
  };
  return (
    <div className="trl-export" data-testid="trl-export">
      {folder && (
        <label>
          Model for TRL{' '}
          <input
            value={modelName}
            placeholder="hub id, e.g. Qwen/Qwen2-VL-2B-Instruct"
            onChange={(e) => setModelName(e.target.value)}
            data-testid="trl-model-name"
          />
        </label>
      )}
      <button
        type="button"
        onClick={exportJob}
        disabled={config === null || state.busy}
        title="A Python project that runs these settings with TRL's GRPOTrainer on one GPU or many"
        data-testid="trl-export-button"
      >
        {state.busy ? 'Exporting…' : 'Export as a TRL job'}
      </button>
      {state.saved && (
        <span className="muted" data-testid="trl-export-saved">
          {' '}
          Saved {state.saved}: unzip it and see its README.md.
        </span>
      )}
      {state.error && (
        <p className="error" role="alert" data-testid="trl-export-error">
          {state.error}
        </p>
      )}
    </div>
  );
}
