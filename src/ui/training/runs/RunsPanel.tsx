// The runs this browser keeps (OPFS): each with its model, dataset, checkpoints and last reward, to resume
// (after a reload too), to download (metrics, config, the LoRA adapter, the merged model of the loaded run) or to
// delete. Without OPFS it says that nothing is kept and exports are the way to keep a run.
import { useState } from 'react';
import type { ExportWhat } from '../../../grpo/worker/protocol.ts';
import type { StoredRun } from '../../../grpo/worker/run-store.ts';
import type { ModelChoice } from '../model-choice.ts';
import { startRun } from '../start-run.ts';
import { useRun } from '../useRun.ts';
import { resumePlan } from './stored-runs.ts';
import { saveFile, useStoredRuns } from './useStoredRuns.ts';

const created = (iso: string) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
};

export function RunsPanel({ model, openedDataset }: { model: ModelChoice; openedDataset: string | null }) {
  const stored = useStoredRuns();
  // Only the run's state and id: the panel does not render again with each of the run's events.
  const state = useRun((s) => s.run.state);
  const runId = useRun((s) => s.run.ready?.run.id ?? null);
  const busyRun = state === 'running' || state === 'paused' || state === 'starting';
  const loadedId = state === 'stopped' || state === 'idle' ? null : runId;
  const { list } = stored;
  return (
    <section className="panel runs-panel" data-testid="runs-panel">
      <h2>Stored runs</h2>
      {list === null && <p className="muted">Reading the stored runs…</p>}
      {list && !list.available && (
        <p className="muted" data-testid="runs-unavailable">
          This browser keeps no runs (it has no origin private file system): download a run's metrics and
          weights before you close the page.
        </p>
      )}
      {list?.available && list.runs.length === 0 && (
        <p className="muted" data-testid="runs-empty">
          No stored runs yet: a run's checkpoints and metrics are kept here as it trains, to resume or
          download later, after a reload too.
        </p>
      )}
      <div role="alert" aria-live="assertive">
        {stored.error && (
          <p className="error" data-testid="runs-error">
            {stored.error}{' '}
            <button type="button" onClick={stored.dismissError}>
              Dismiss
            </button>
          </p>
        )}
      </div>
      {list?.available && list.runs.length > 0 && (
        <ul className="stored-runs">
          {list.runs.map((r) => (
            <StoredRunItem
              key={r.id}
              run={r}
              loaded={r.id === loadedId}
              canStart={!busyRun}
              model={model}
              openedDataset={openedDataset}
              busy={stored.busy}
              download={stored.download}
              remove={stored.remove}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function StoredRunItem(props: {
  run: StoredRun;
  loaded: boolean;
  canStart: boolean;
  model: ModelChoice;
  openedDataset: string | null;
  busy: string | null;
  download: (runId: string, what: ExportWhat) => void;
  remove: (runId: string) => void;
}) {
  const { run, loaded, busy } = props;
  const last = run.checkpoints.at(-1);
  const plan = resumePlan(run, props.model, props.openedDataset);
  const lora = run.config.use_peft === true;
  const reward = run.lastMetrics?.reward;
  const exports: [ExportWhat, string][] = [['metrics', 'metrics']];
  if (lora) exports.push(['adapter', 'LoRA adapter']);
  // A merged model is made from the loaded policy.
  if (loaded) exports.push(['merged', 'merged model']);
  const [more, setMore] = useState('100');
  const maxSteps =
    typeof run.config.max_steps === 'number' && run.config.max_steps > 0 ? run.config.max_steps : null;
  // A run that took all its steps trains further only when asked for more.
  const complete = last !== undefined && maxSteps !== null && last.step >= maxSteps;
  const extra = Number(more);
  const extraOk = Number.isInteger(extra) && extra >= 1;
  const resume = () => {
    if (!plan.ok || (complete && !extraOk)) return;
    startRun({
      model: plan.model,
      dataset: plan.dataset,
      resume: { runId: run.id },
      ...(complete && last ? { config: { max_steps: last.step + extra } } : {}),
    });
  };
  return (
    <li className="stored-run" data-testid="stored-run" data-run-id={run.id}>
      <div className="stored-run-title">
        <strong>{run.id}</strong>
        {loaded && <span className="muted"> (loaded)</span>}
      </div>
      <p className="muted">
        {run.model} on {run.dataset}, started {created(run.created)};{' '}
        {last ? `checkpoint at step ${last.step}` : 'no checkpoint yet'}
        {reward !== undefined && reward !== null && `, last reward ${reward.toFixed(3)}`}.
      </p>
      <div className="stored-run-actions">
        <button
          type="button"
          onClick={resume}
          disabled={!props.canStart || !plan.ok || last === undefined || (complete && !extraOk)}
          title={plan.ok ? undefined : plan.reason}
          data-testid="resume-run"
        >
          {complete ? 'Train further' : 'Resume'}
        </button>
        {complete && (
          <label className="more-steps">
            by{' '}
            <input
              type="number"
              min={1}
              step={1}
              value={more}
              onChange={(e) => setMore(e.target.value)}
              aria-label="steps to train further"
              data-testid="more-steps"
            />{' '}
            steps
          </label>
        )}
        {exports.map(([what, label]) => (
          <button
            key={what}
            type="button"
            onClick={() => props.download(run.id, what)}
            disabled={busy !== null}
            data-testid={`download-${what}`}
          >
            {busy === `${run.id} ${what}` ? 'Preparing…' : `Download ${label}`}
          </button>
        ))}
        <button
          type="button"
          onClick={() =>
            saveFile(
              `${run.id}-config.json`,
              new TextEncoder().encode(`${JSON.stringify(run.config, null, 2)}\n`),
              'application/json',
            )
          }
          data-testid="download-config"
        >
          Download config
        </button>
        <button
          type="button"
          onClick={() => {
            if (window.confirm(`Delete run ${run.id} and its checkpoints from this browser?`))
              props.remove(run.id);
          }}
          disabled={loaded || busy !== null}
          data-testid="delete-run"
        >
          Delete
        </button>
      </div>
      {!plan.ok && last !== undefined && <p className="muted">To resume, {plan.reason}.</p>}
    </li>
  );
}
