// The app's view of the training run: what the GRPO worker's run events (src/grpo/worker/protocol.ts) add
// up to, as a zustand store. reduceRunEvent is the whole logic, a pure function; the store applies it to
// each event and keeps which sample the person selected.
import { createStore } from 'zustand/vanilla';
import type { GrpoConfig } from '../../grpo/config.ts';
import type { Metrics } from '../../grpo/metrics.ts';
import type { SampleRecord } from '../../grpo/trainer.ts';
import type {
  CheckpointEvent,
  ErrorEvent,
  EvalResultEvent,
  ProgressEvent,
  ReadyEvent,
  RunEvent,
  RunState,
} from '../../grpo/worker/protocol.ts';
import type { Thumbnail } from '../../grpo/worker/thumbnail.ts';

/** Sample records kept for the history and the table (the oldest go first). */
export const MAX_RECORDS = 10_000;
const MAX_WARNINGS = 20;

export interface StepMetrics {
  step: number;
  metrics: Metrics;
  logged?: Metrics;
  skipped?: string;
}

export interface RunView {
  /** 'starting' from the Train press until the worker reports a state. */
  state: RunState | 'starting';
  ready: ReadyEvent | null;
  step: number;
  totalSteps: number;
  progress: ProgressEvent | null;
  history: StepMetrics[];
  /** The prompts of the latest generation, with their completions. */
  batch: SampleRecord[];
  /** Their images, small; null where the worker could not read one again. */
  batchImages: (Thumbnail | null)[];
  /** Every prompt seen, oldest first, up to MAX_RECORDS. */
  records: SampleRecord[];
  /** The run's evaluations of its held-out rows, as metrics 'eval/acc50', 'eval/mean_iou', 'eval/format_rate'. */
  evals: StepMetrics[];
  checkpoint: CheckpointEvent | null;
  error: ErrorEvent | null;
  warnings: string[];
  /** A run trained elsewhere (TRL) and opened here to inspect; null for the worker's runs. */
  imported: ImportedView | null;
}

export interface ImportedView {
  /** The trainer_state.json read. */
  source: string;
  step: number;
  maxSteps: number;
  config: GrpoConfig;
  /** What the run's LoRA adapter became: the model it now trains further from, or why not. */
  adapter: string;
}

/** The settings the views draw with: the loaded run's, or the imported run's. */
export function viewConfig(view: RunView): GrpoConfig | null {
  return view.ready?.config ?? view.imported?.config ?? null;
}

export const INITIAL_RUN: RunView = {
  state: 'idle',
  ready: null,
  step: 0,
  totalSteps: 0,
  progress: null,
  history: [],
  batch: [],
  batchImages: [],
  records: [],
  evals: [],
  checkpoint: null,
  error: null,
  warnings: [],
  imported: null,
};

/** The view after a Train press: the last run's results are cleared. */
export function startingRun(): RunView {
  return { ...INITIAL_RUN, state: 'starting' };
}

/** The events the view is made of: the run's own, and the results of its held-out evaluations. */
export type ViewEvent = RunEvent | EvalResultEvent;

function evalMetrics(e: { acc50: number; mean_iou: number; format_rate: number }): Metrics {
  return { 'eval/acc50': e.acc50, 'eval/mean_iou': e.mean_iou, 'eval/format_rate': e.format_rate };
}

export function reduceRunEvent(view: RunView, event: ViewEvent): RunView {
  switch (event.type) {
    case 'eval-result': {
      // Results answering an eval request (with an id) belong to that request's view.
      if (event.id !== undefined) return view;
      const metrics = evalMetrics(event);
      return {
        ...view,
        evals: [...view.evals.filter((e) => e.step !== event.step), { step: event.step, metrics }],
      };
    }
    case 'ready': {
      const from = event.run.resumedFrom;
      // A resumed run keeps what this page saw of it, or else takes what its store kept (after a reload).
      const kept = (seen: StepMetrics[], stored: StepMetrics[]) =>
        from === null ? [] : seen.length > 0 ? seen.filter((h) => h.step <= from) : stored;
      return {
        ...view,
        ready: event,
        error: null,
        step: from ?? 0,
        totalSteps: event.totalSteps,
        history: kept(
          view.history,
          (event.history?.metrics ?? []).map(({ step, ...metrics }) => ({ step, metrics, logged: metrics })),
        ),
        evals: kept(
          view.evals,
          (event.history?.evals ?? []).map((e) => ({ step: e.step, metrics: evalMetrics(e) })),
        ),
      };
    }
    case 'progress':
      return { ...view, progress: event };
    case 'metrics': {
      const entry: StepMetrics = { step: event.step, metrics: event.metrics };
      if (event.logged) entry.logged = event.logged;
      if (event.skipped) entry.skipped = event.skipped;
      return {
        ...view,
        step: event.step,
        totalSteps: event.totalSteps,
        history: [...view.history.filter((h) => h.step < event.step), entry],
      };
    }
    case 'samples': {
      const records = [...view.records, ...event.records];
      return {
        ...view,
        batch: event.records,
        batchImages: event.images,
        records: records.length > MAX_RECORDS ? records.slice(records.length - MAX_RECORDS) : records,
      };
    }
    case 'state':
      return { ...view, state: event.state, step: event.state === 'idle' ? view.step : event.step };
    case 'checkpoint':
      return { ...view, checkpoint: event };
    case 'error':
      // Errors answering an eval / export / runs request (with an id) belong to that request's view.
      return event.id === undefined ? { ...view, error: event } : view;
    case 'warning':
      return { ...view, warnings: [...view.warnings, event.message].slice(-MAX_WARNINGS) };
  }
}

/** A selected completion: the prompt's index in `batch` and the completion's index among its G. */
export interface Selection {
  prompt: number;
  completion: number;
}

export interface RunStore {
  run: RunView;
  selected: Selection | null;
  apply: (event: ViewEvent) => void;
  starting: () => void;
  select: (selection: Selection | null) => void;
  /** Shows a view made elsewhere (an imported run). */
  show: (run: RunView) => void;
}

export function createRunStore() {
  return createStore<RunStore>()((set) => ({
    run: INITIAL_RUN,
    selected: null,
    apply: (event) => set((s) => ({ run: reduceRunEvent(s.run, event) })),
    starting: () => set({ run: startingRun(), selected: null }),
    select: (selected) => set({ selected }),
    show: (run) => set({ run, selected: null }),
  }));
}

/** Events the run view takes (the worker's other events answer dataset, eval, export and store requests). */
const RUN_EVENTS: ReadonlySet<string> = new Set([
  'ready',
  'progress',
  'metrics',
  'samples',
  'state',
  'checkpoint',
  'error',
  'warning',
  'eval-result',
] satisfies ViewEvent['type'][]);

export function isRunEvent(event: { type: string }): event is ViewEvent {
  return RUN_EVENTS.has(event.type);
}
