// The app's run view: how the worker's run events add up (a new run, metrics and samples in order, a
// resumed run, errors for the run versus errors answering a request, warnings capped) and the store
// around the reducer.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/grpo/config.ts';
import type { SampleRecord } from '../../../src/grpo/trainer.ts';
import type { EvalResultEvent, ReadyEvent } from '../../../src/grpo/worker/protocol.ts';
import {
  createRunStore,
  INITIAL_RUN,
  isRunEvent,
  MAX_RECORDS,
  type RunView,
  reduceRunEvent,
  type ViewEvent,
} from '../../../src/ui/training/run-store.ts';

function ready(resumedFrom: number | null = null): ReadyEvent {
  return {
    type: 'ready',
    adapter: {
      label: 'test',
      vendor: '',
      architecture: '',
      device: '',
      description: '',
      features: [],
      limits: {},
    } as never,
    model: {
      kind: 'qwen2_vl',
      parameters: 10,
      trainableParameters: 10,
      weightDtype: 'f32',
      boxSpace: 'pixels',
    },
    dataset: { name: 'synthetic', rows: 100 },
    config: { ...DEFAULT_CONFIG },
    totalSteps: 300,
    run: { id: 'run-1', resumedFrom, saving: true },
  };
}

function record(step: number, id: string): SampleRecord {
  return {
    step,
    id,
    question: 'Where is the red circle?',
    box: [1, 2, 30, 40],
    frame: { width: 84, height: 84, inputWidth: 84, inputHeight: 84 },
    completions: [],
  };
}

const thumb = { width: 1, height: 1, pixels: new Uint8ClampedArray([1, 2, 3, 255]) };

const run = (events: ViewEvent[], from: RunView = INITIAL_RUN) => events.reduce(reduceRunEvent, from);

describe('reduceRunEvent', () => {
  it('follows a run from ready through steps', () => {
    const view = run([
      ready(),
      { type: 'state', state: 'running', step: 0 },
      { type: 'progress', phase: 'training', done: 1, total: 300, etaSeconds: 600 },
      { type: 'metrics', step: 1, totalSteps: 300, metrics: { reward: 1.25, loss: 0 } },
      { type: 'samples', step: 1, records: [record(1, 'a'), record(1, 'b')], images: [null, null] },
      { type: 'metrics', step: 2, totalSteps: 300, metrics: { reward: 1.5 }, logged: { reward: 1.4 } },
      { type: 'samples', step: 2, records: [record(2, 'c')], images: [thumb] },
    ]);
    expect(view.state).toBe('running');
    expect(view.step).toBe(2);
    expect(view.totalSteps).toBe(300);
    expect(view.ready?.run.id).toBe('run-1');
    expect(view.progress?.etaSeconds).toBe(600);
    expect(view.history).toEqual([
      { step: 1, metrics: { reward: 1.25, loss: 0 } },
      { step: 2, metrics: { reward: 1.5 }, logged: { reward: 1.4 } },
    ]);
    expect(view.batch.map((r) => r.id)).toEqual(['c']);
    expect(view.batchImages).toEqual([thumb]);
    expect(view.records.map((r) => r.id)).toEqual(['a', 'b', 'c']);
  });

  it('records a skipped update and replaces a step reported again', () => {
    const view = run([
      { type: 'metrics', step: 1, totalSteps: 3, metrics: { reward: 1 } },
      { type: 'metrics', step: 2, totalSteps: 3, metrics: { reward: 2 }, skipped: 'non-finite loss' },
      { type: 'metrics', step: 2, totalSteps: 3, metrics: { reward: 3 } },
    ]);
    expect(view.history).toEqual([
      { step: 1, metrics: { reward: 1 } },
      { step: 2, metrics: { reward: 3 } },
    ]);
  });

  it('keeps the history when a run is resumed and clears it for a new one', () => {
    const before = run([{ type: 'metrics', step: 5, totalSteps: 300, metrics: { reward: 1 } }]);
    const resumed = reduceRunEvent(before, ready(5));
    expect(resumed.step).toBe(5);
    expect(resumed.history).toHaveLength(1);
    expect(reduceRunEvent(before, ready()).history).toEqual([]);
  });

  it("takes a resumed run's stored history after a reload, up to the step it continues from", () => {
    const stored = {
      ...ready(2),
      history: {
        metrics: [
          { step: 1, reward: 0.5 },
          { step: 2, reward: 0.75 },
        ],
        evals: [
          {
            step: 0,
            rows: 'synthetic (seed 424242, 64 rows)',
            n: 64,
            acc50: 0.25,
            mean_iou: 0.3,
            format_rate: 1,
          },
        ],
      },
    };
    const fresh = reduceRunEvent(INITIAL_RUN, stored);
    expect(fresh.history.map((h) => [h.step, h.metrics.reward])).toEqual([
      [1, 0.5],
      [2, 0.75],
    ]);
    expect(fresh.evals).toEqual([
      { step: 0, metrics: { 'eval/acc50': 0.25, 'eval/mean_iou': 0.3, 'eval/format_rate': 1 } },
    ]);
    // What this page saw wins over the store, cut at the resumed step.
    const seen = run([
      { type: 'metrics', step: 2, totalSteps: 3, metrics: { reward: 9 } },
      { type: 'metrics', step: 3, totalSteps: 3, metrics: { reward: 8 } },
    ]);
    expect(reduceRunEvent(seen, stored).history.map((h) => h.metrics.reward)).toEqual([9]);
    // A new run starts empty whatever it carries.
    expect(reduceRunEvent(seen, { ...stored, run: { ...stored.run, resumedFrom: null } }).history).toEqual(
      [],
    );
  });

  it("keeps the run's held-out evaluations by step, not the results answering a request", () => {
    const result = (step: number, acc50: number, id?: number): EvalResultEvent => ({
      type: 'eval-result',
      ...(id === undefined ? {} : { id }),
      step,
      rows: 'synthetic (seed 424242, 64 rows)',
      n: 64,
      acc50,
      mean_iou: acc50 / 2,
      format_rate: 1,
      samples: [],
    });
    const view = run([ready(), result(0, 0.25), result(50, 0.5), result(50, 0.75), result(60, 0.9, 7)]);
    expect(view.evals).toEqual([
      { step: 0, metrics: { 'eval/acc50': 0.25, 'eval/mean_iou': 0.125, 'eval/format_rate': 1 } },
      { step: 50, metrics: { 'eval/acc50': 0.75, 'eval/mean_iou': 0.375, 'eval/format_rate': 1 } },
    ]);
    expect(reduceRunEvent(view, ready(50)).evals).toHaveLength(2);
    expect(reduceRunEvent(view, ready()).evals).toEqual([]);
  });

  it('keeps the run error but not errors answering a request', () => {
    const error = {
      type: 'error',
      kind: 'out-of-memory',
      name: 'OutOfMemoryError',
      message: 'lower num_generations',
      recoverable: true,
    } as const;
    expect(run([error]).error?.message).toBe('lower num_generations');
    expect(run([{ ...error, id: 3 }]).error).toBeNull();
    expect(run([error, ready()]).error).toBeNull();
  });

  it('caps warnings and sample records, dropping the oldest', () => {
    const warnings = Array.from({ length: 25 }, (_, i): ViewEvent => ({ type: 'warning', message: `w${i}` }));
    const view = run(warnings);
    expect(view.warnings).toHaveLength(20);
    expect(view.warnings[0]).toBe('w5');
    const many = Array.from({ length: MAX_RECORDS + 3 }, (_, i) => record(1, `r${i}`));
    const capped = run([{ type: 'samples', step: 1, records: many, images: many.map(() => null) }]);
    expect(capped.records).toHaveLength(MAX_RECORDS);
    expect(capped.records[0]!.id).toBe('r3');
  });

  it('keeps the step at which a run ended', () => {
    const view = run([
      { type: 'metrics', step: 7, totalSteps: 300, metrics: {} },
      { type: 'state', state: 'stopped', step: 7 },
      { type: 'state', state: 'idle', step: 0 },
    ]);
    expect(view.state).toBe('idle');
    expect(view.step).toBe(7);
  });
});

describe('the run store', () => {
  it('applies events, starts afresh on Train and keeps a selection', () => {
    const store = createRunStore();
    store.getState().apply({ type: 'metrics', step: 3, totalSteps: 10, metrics: {} });
    store.getState().select({ prompt: 0, completion: 2 });
    expect(store.getState().run.step).toBe(3);
    expect(store.getState().selected).toEqual({ prompt: 0, completion: 2 });
    store.getState().starting();
    expect(store.getState().run.state).toBe('starting');
    expect(store.getState().run.step).toBe(0);
    expect(store.getState().selected).toBeNull();
  });

  it("tells run events from the worker's other events", () => {
    expect(isRunEvent({ type: 'metrics' })).toBe(true);
    expect(isRunEvent({ type: 'dataset-opened' })).toBe(false);
    expect(isRunEvent({ type: 'eval-result' })).toBe(true);
    expect(isRunEvent({ type: 'export-result' })).toBe(false);
  });
});
