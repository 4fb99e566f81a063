// Starting a run from the page, new (Train) or resumed (the runs panel): the run view is reset and, when
// the run trains on the synthetic set, held-out scenes of another seed are evaluated every eval_steps.
import type { GrpoConfig } from '../../grpo/config.ts';
import type { DatasetSource, ModelSource } from '../../grpo/worker/protocol.ts';
import { postToWorker } from '../grpo-worker.ts';
import { runStore } from './useRun.ts';

/** Held-out synthetic scenes evaluated every eval_steps while training on the synthetic set. */
export const HELD_OUT_ROWS = 64;

export function startRun(opts: {
  model: ModelSource;
  dataset: DatasetSource;
  preset?: string;
  config?: Partial<GrpoConfig>;
  resume?: { runId: string };
}): void {
  runStore.getState().starting();
  postToWorker({
    type: 'start',
    model: opts.model,
    dataset: opts.dataset,
    config: opts.config ?? {},
    ...(opts.preset === undefined ? {} : { preset: opts.preset }),
    ...(opts.resume === undefined ? {} : { resume: opts.resume }),
    ...(opts.dataset.kind === 'synthetic' ? { heldOut: { kind: 'synthetic', count: HELD_OUT_ROWS } } : {}),
  });
}
