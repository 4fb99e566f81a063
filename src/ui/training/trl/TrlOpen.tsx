// "Open a TRL run": a folder TRL trained (an exported job after its train.py ran, or TRL's output folder)
// picked, or dropped on the page, to inspect in the charts, the batch and the samples table; and, while
// one is shown, what it is and which model Train continues from.
import { FolderButton } from '../../FolderButton.tsx';
import type { ModelChoice } from '../model-choice.ts';
import type { ImportedView } from '../run-store.ts';
import { showTrlRun } from './trl-import.ts';

export function TrlOpen({ onModel, disabled }: { onModel: (model: ModelChoice) => void; disabled: boolean }) {
  return (
    <div className="trl-open">
      <FolderButton
        label="Open a TRL run…"
        disabled={disabled}
        testId="trl-run-input"
        onEntries={(entries) => showTrlRun(entries, onModel)}
      />
      <span className="muted">
        {' '}
        The folder of a job exported below after its train.py ran (or TRL's output folder): its metrics,
        completions and adapter, shown here; dropping it on the page works too.
      </span>
    </div>
  );
}

export function ImportedRun({ run }: { run: ImportedView }) {
  return (
    <p className="note" data-testid="imported-run">
      A run trained by TRL ({run.source}): step {run.step} of {run.maxSteps}, {run.config.num_generations}{' '}
      completions per prompt, rewards {run.config.reward_funcs.join(', ')}. {run.adapter}
    </p>
  );
}
