// The training panel: what a run trains (the built-in nano model or a picked checkpoint folder, the dataset
// the dataset panel shows, the nano-demo preset), an estimate of the GPU memory it needs, Train and the controls of a loaded run (pause, resume, one step, stop), its progress
// with ETA and throughput, the latest metrics, and errors (announced) and warnings; below, the current
// metrics' live charts (Charts), the batch's boxes (BatchView), the selected prompt's completions
// (Completions) and every sample seen (SamplesTable).
import { memo, useCallback, useDeferredValue, useMemo, useRef, useState } from 'react';
import type { AdapterSummary } from '../../gpu/adapter.ts';
import type { GrpoConfig } from '../../grpo/config.ts';
import type { Metrics } from '../../grpo/metrics.ts';
import type { DatasetSource, ImageSize } from '../../grpo/worker/protocol.ts';
import { FolderButton } from '../FolderButton.tsx';
import { postToWorker } from '../grpo-worker.ts';
import { useProgressive } from '../useProgressive.ts';
import { ConfigForm } from './ConfigForm.tsx';
import { Charts } from './charts/Charts.tsx';
import { type FormInputs, readFormInputs } from './config-inputs.ts';
import { BatchView } from './inspector/BatchView.tsx';
import { Completions } from './inspector/Completions.tsx';
import { SamplesTable } from './inspector/SamplesTable.tsx';
import { MemoryFit, useGpuMemory, useMemoryPlan } from './MemoryFit.tsx';
import { type ModelChoice, modelFromEntries, NANO_MODEL } from './model-choice.ts';
import { type RunView, viewConfig } from './run-store.ts';
import { startRun } from './start-run.ts';
import { TrlExport } from './trl/TrlExport.tsx';
import { ImportedRun, TrlOpen } from './trl/TrlOpen.tsx';
import { useRun } from './useRun.ts';

export const TRAIN_PRESET = 'nano-demo';

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

const fixed = (v: number | null | undefined, digits: number) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);

function Progress({ run }: { run: RunView }) {
  const p = run.progress;
  if (run.state === 'starting' || p?.phase === 'opening-dataset')
    return <p data-testid="run-progress">Opening the dataset…</p>;
  if (p?.phase === 'loading-model' && run.state === 'running') {
    const pct = p.total > 0 ? Math.round((100 * p.done) / p.total) : 0;
    return (
      <p data-testid="run-progress">
        Loading the model… {pct}% <progress value={p.done} max={Math.max(1, p.total)} />
      </p>
    );
  }
  if (run.totalSteps === 0) return null;
  const eta = p?.phase === 'training' && p.etaSeconds !== null ? formatDuration(p.etaSeconds) : null;
  return (
    <p data-testid="run-progress">
      <progress value={run.step} max={run.totalSteps} aria-label="training progress" />{' '}
      <span data-testid="run-step">
        step {run.step} / {run.totalSteps}
      </span>
      {eta !== null && run.state === 'running' && <> · ETA {eta}</>}
    </p>
  );
}

function LatestMetrics({ metrics }: { metrics: Metrics }) {
  const rows: [string, string][] = [
    ['reward', fixed(metrics.reward, 3)],
    ['reward std', fixed(metrics.reward_std, 3)],
    ['loss', fixed(metrics.loss, 4)],
    ['grad norm', fixed(metrics.grad_norm, 3)],
    ['completion length', fixed(metrics['completions/mean_length'], 1)],
    ['s / step', fixed(metrics.step_time, 2)],
    ['generated tokens / s', fixed(metrics['tokens_per_s/generation'], 0)],
  ];
  return (
    <dl className="facts run-metrics" data-testid="run-metrics">
      {rows.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function TrainingPanel({
  dataset,
  datasetLabel,
  model,
  onModel,
  adapter,
  largestImage,
}: {
  dataset: DatasetSource;
  datasetLabel: string;
  model: ModelChoice;
  onModel: (model: ModelChoice) => void;
  adapter: AdapterSummary;
  largestImage: ImageSize | null;
}) {
  const run = useRun((s) => s.run);
  // The batch, its completions and the samples table render after the progress and metrics, in a pass
  // React may interrupt for input and frames.
  const later = useDeferredValue(run);
  const loaded = run.state === 'running' || run.state === 'paused' || run.state === 'starting';
  const latest = run.history[run.history.length - 1];
  const [preset, setPreset] = useState(TRAIN_PRESET);
  const [inputs, setInputs] = useState<FormInputs>({});
  const result = useMemo(() => readFormInputs(inputs, preset), [inputs, preset]);
  const [memoryGiB, setMemoryGiB] = useGpuMemory();
  const plan = useMemoryPlan({
    model,
    config: result.ok ? result.config : null,
    dataset,
    largestImage,
    adapter,
    memoryGiB,
  });
  const misfit = plan.kind === 'plan' && !plan.plan.fits;
  const send = (type: 'pause' | 'resume' | 'step' | 'stop') => postToWorker({ type });
  // Train reads the latest settings through a ref, so that the form (given it) renders again only when
  // they change, not when the run starts.
  const trainWith = useRef(() => {});
  trainWith.current = () => {
    if (loaded || !result.ok || misfit) return;
    startRun({ model: model.source, dataset, preset, config: result.layer });
  };
  const train = useCallback(() => trainWith.current(), []);
  const setInput = useCallback(
    (name: keyof GrpoConfig, value: string) => setInputs((old) => ({ ...old, [name]: value })),
    [],
  );
  const applyInputs = useCallback(
    (changes: [keyof GrpoConfig, string][]) =>
      setInputs((old) => ({ ...old, ...Object.fromEntries(changes) })),
    [],
  );
  return (
    <section className="panel training-panel" data-testid="training-panel">
      <h2>Training</h2>
      <ModelPicker model={model} onModel={onModel} disabled={loaded} />
      {!loaded && (
        <MemoryFit
          state={plan}
          maxCompletionLength={result.ok ? result.config.max_completion_length : 0}
          memoryGiB={memoryGiB}
          onMemoryGiB={setMemoryGiB}
          onApply={applyInputs}
        />
      )}
      <p className="muted" data-testid="run-subject">
        GRPO on {model.label}, on {datasetLabel}.
        {run.ready && (
          <>
            {' '}
            {run.ready.model.parameters.toLocaleString('en-US')} parameters,{' '}
            {run.ready.config.num_generations} completions per prompt.
          </>
        )}
      </p>
      <ConfigForm
        preset={preset}
        inputs={inputs}
        result={result}
        running={loaded && run.ready ? run.ready.config : null}
        onPreset={setPreset}
        onInput={setInput}
        onSubmit={train}
      />
      <div className="run-controls">
        <button
          type="button"
          className="primary"
          onClick={train}
          disabled={loaded || !result.ok || misfit}
          data-testid="train"
        >
          Train
        </button>
        {run.state === 'running' && (
          <button type="button" onClick={() => send('pause')} data-testid="pause">
            Pause
          </button>
        )}
        {run.state === 'paused' && (
          <>
            <button type="button" onClick={() => send('resume')} data-testid="resume">
              Resume
            </button>
            <button type="button" onClick={() => send('step')} data-testid="single-step">
              One step
            </button>
          </>
        )}
        {(run.state === 'running' || run.state === 'paused') && (
          <button type="button" onClick={() => send('stop')} data-testid="stop">
            Stop
          </button>
        )}
        <span className="run-state" data-testid="run-state">
          {run.state}
        </span>
      </div>
      {!loaded && (
        <TrlExport model={model} dataset={dataset} preset={preset} config={result.ok ? result.layer : null} />
      )}
      <TrlOpen onModel={onModel} disabled={loaded} />
      {run.imported && <ImportedRun run={run.imported} />}
      <Progress run={run} />
      <div role="alert" aria-live="assertive" data-testid="run-error">
        {run.error && (
          <p className="error">
            {run.error.message}
            {run.error.checkpoint && ` (the checkpoint of step ${run.error.checkpoint.step} is kept)`}
          </p>
        )}
      </div>
      {run.warnings.length > 0 && (
        <ul className="warnings" data-testid="run-warnings">
          {run.warnings.map((w, i) => (
            // Warnings repeat and are never reordered: the index is their identity.
            // biome-ignore lint/suspicious/noArrayIndexKey: see above
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
      {latest && <LatestMetrics metrics={latest.metrics} />}
      {latest?.skipped && (
        <p className="error">
          Step {latest.step} skipped its update: {latest.skipped}
        </p>
      )}
      <Charts run={later} />
      {later.batch.length > 0 && viewConfig(later) && <BatchDetails run={later} />}
    </section>
  );
}

/**
 * The batch, the selected prompt's completions and the samples table; on the first batch, one per frame.
 * Given the deferred view, it skips the urgent pass of each run event (memo).
 */
const BatchDetails = memo(function BatchDetails({ run }: { run: RunView }) {
  // The batch view mounts its own stages a turn each; then the completions, then the table.
  const parts = useProgressive(2);
  return (
    <>
      <BatchView run={run} />
      {parts >= 1 && <Completions run={run} />}
      {parts >= 2 && <SamplesTable run={run} />}
    </>
  );
});

/** Picks a checkpoint folder (a drop on the page does the same), or goes back to nano. */
function ModelPicker({
  model,
  onModel,
  disabled,
}: {
  model: ModelChoice;
  onModel: (model: ModelChoice) => void;
  disabled: boolean;
}) {
  return (
    <div className="model-picker">
      <FolderButton
        label="Choose a model folder…"
        disabled={disabled}
        testId="model-folder-input"
        onEntries={(entries) => onModel(modelFromEntries(entries))}
      />
      {model.source.kind !== 'nano' && (
        <button type="button" disabled={disabled} onClick={() => onModel(NANO_MODEL)} data-testid="use-nano">
          Use the built-in nano model
        </button>
      )}
      <span className="muted">
        {' '}
        A Qwen2-VL / Qwen2.5-VL folder from Hugging Face (config.json, tokenizer files, safetensors; a PEFT
        adapter beside them is trained further); dropping it on the page works too.
      </span>
    </div>
  );
}
