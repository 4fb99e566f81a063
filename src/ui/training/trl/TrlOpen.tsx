// "Open a TRL run": a folder TRL trained (an exported job after its train.py ran, or TRL's output folder)
// picked, or dropped on the page, to inspect in the charts, the batch and the samples table; and, while
// one is shown, what it is and which model Train continues from.
import { useEffect, useRef } from 'react';
import { inputEntries } from '../../../data/files/drop-browser.ts';
import type { ModelChoice } from '../model-choice.ts';
import type { ImportedView } from '../run-store.ts';
import { showTrlRun } from './trl-import.ts';

export function TrlOpen({ onModel, disabled }: { onModel: (model: ModelChoice) => void; disabled: boolean }) {
  const folder = useRef<HTMLInputElement>(null);
  useEffect(() => {
    folder.current?.setAttribute('webkitdirectory', '');
  }, []);
  return (
    <div className="trl-open">
      <button type="button" disabled={disabled} onClick={() => folder.current?.click()}>
        Open a TRL run…
      </button>
      <span className="muted">
        {' '}
        The folder of a job exported below after its train.py ran (or TRL's output folder): its metrics,
        completions and adapter, shown here; dropping it on the page works too.
      </span>
      <input
        ref={folder}
        type="file"
        hidden
        multiple
        data-testid="trl-run-input"
        onChange={(e) => {
          if (e.target.files && e.target.files.length > 0) showTrlRun(inputEntries(e.target.files), onModel);
          e.target.value = '';
        }}
      />
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
