// Messages between the app and the GRPO worker (src/grpo/worker.ts). Requests start a run (a model, a
// dataset, a configuration), steer it between steps (pause, resume, single step, stop), and open or
// preview the dataset the dataset panel shows. Events report loading and training progress, TRL's
// metrics, per-sample records, the run's state, and errors that say what to change.
//
// Dataset requests carry an id that their reply repeats; run events carry none (there is one run).

import type { BoxFormat } from '../data/box-format.ts';
import type { DroppedEntry } from '../data/drop-browser.ts';
import type { FieldOverrides } from '../data/json-rows.ts';
import type { Box } from '../data/row.ts';
import type { ValidationReport } from '../data/validation-report.ts';
import type { AdapterSummary } from '../gpu/adapter.ts';
import type { WeightDtype } from '../model/load.ts';
import type { BoxSpace } from './answer.ts';
import type { ModelKind } from './box-space.ts';
import type { GrpoConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { SampleRecord } from './trainer.ts';

// ---------------------------------------------------------------------------------------------------------
// Requests (app -> worker)

/** How a dropped dataset is read (see src/data/open-dataset.ts). */
export interface OpenOptions {
  split?: string;
  boxFormat?: BoxFormat;
  fields?: FieldOverrides;
}

/** The model a run trains. */
export type ModelSource =
  /** The built-in nano checkpoint, fetched from the app's own public/nano/. */
  | { kind: 'nano' }
  /**
   * A dropped Hugging Face checkpoint folder: config.json, tokenizer.json, tokenizer_config.json,
   * preprocessor_config.json, model.safetensors or its shards with the index (chat_template.json and
   * generation_config.json when present). Files are matched by base name.
   */
  | { kind: 'files'; files: File[] };

/** The rows a run trains on. */
export type DatasetSource =
  | { kind: 'synthetic'; seed: number; count: number }
  /** Dropped files, as the dataset panel passes them. */
  | { kind: 'files'; entries: DroppedEntry[]; options: OpenOptions }
  /** The dataset the last dataset-open or dataset-synthetic request opened in this worker. */
  | { kind: 'opened' };

export interface StartRequest {
  type: 'start';
  model: ModelSource;
  dataset: DatasetSource;
  /** A name in PRESETS (src/grpo/config.ts), applied over the defaults and under `config`. */
  preset?: string;
  config: Partial<GrpoConfig>;
  /** Load everything, then wait in 'paused' for `step` or `resume` (default: start training). */
  paused?: boolean;
}

/**
 * Steering a run; honoured between optimiser steps (a step in flight always finishes). `step` runs one
 * step of a paused run. `stop` ends the run and frees its GPU memory (a run still loading stops at its
 * next weight read). A `start` while a run is loaded stops that run first.
 */
export type RunRequest =
  | StartRequest
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'step' }
  | { type: 'stop' };

export type DatasetRequest =
  | { type: 'dataset-open'; id: number; entries: DroppedEntry[]; options: OpenOptions }
  | { type: 'dataset-synthetic'; id: number; seed: number; count: number }
  | { type: 'dataset-preview'; id: number; index: number };

export type WorkerRequest = RunRequest | DatasetRequest;

// ---------------------------------------------------------------------------------------------------------
// Events (worker -> app)

/**
 * idle: no run loaded (the worker's first state, and after an error ended a run); running: loading or
 * training; paused: loaded, waiting between steps; finished: every step taken (the run stays loaded
 * until `stop` or a new `start`); stopped: ended by `stop`, its memory freed.
 */
export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'finished';

export type ProgressPhase = 'loading-model' | 'opening-dataset' | 'training';

export interface ReadyEvent {
  type: 'ready';
  adapter: AdapterSummary;
  model: {
    kind: ModelKind;
    parameters: number;
    trainableParameters: number;
    /** How the weight matrices are stored on the GPU. */
    weightDtype: WeightDtype;
    /** The space the model answers boxes in (box_space 'auto' resolved). */
    boxSpace: BoxSpace;
  };
  dataset: { name: string; rows: number };
  /** The resolved configuration (defaults <- preset <- the request's config). */
  config: GrpoConfig;
  totalSteps: number;
}

export interface ProgressEvent {
  type: 'progress';
  phase: ProgressPhase;
  /** loading-model: weight bytes read; opening-dataset: 0 or 1; training: optimiser steps taken. */
  done: number;
  /** 0 while not known yet (the built-in model is being fetched). */
  total: number;
  /**
   * Training only: the mean step time x the steps left (the first step, which also compiles the
   * kernels, is left out of the mean once there are others); null before the first step.
   */
  etaSeconds: number | null;
}

export interface MetricsEvent {
  type: 'metrics';
  /** Optimiser steps taken, this one included. */
  step: number;
  totalSteps: number;
  /** This step's values under TRL's names (loss, reward, entropy, grad_norm, completions/...). */
  metrics: Metrics;
  /** Averages over the logging window, on logging steps (TRL's logged values). */
  logged?: Metrics;
  /** Why the update was skipped (a non-finite loss or gradient), when it was. */
  skipped?: string;
}

/** The prompts sampled during a step, each with its G completions, rewards and advantages. */
export interface SamplesEvent {
  type: 'samples';
  step: number;
  records: SampleRecord[];
}

export interface StateEvent {
  type: 'state';
  state: RunState;
  /** Optimiser steps the run has taken. */
  step: number;
}

/**
 * config: a GrpoConfig field (named in `field`); model / dataset: a file that cannot be used;
 * out-of-memory / device-lost: the GPU gave up, the run ended, its memory is freed; no-webgpu: this
 * browser has no usable adapter; request: a message that does not fit the run's state; internal: a bug.
 */
export type ErrorKind =
  | 'config'
  | 'model'
  | 'dataset'
  | 'out-of-memory'
  | 'device-lost'
  | 'no-webgpu'
  | 'request'
  | 'internal';

export interface ErrorEvent {
  type: 'error';
  kind: ErrorKind;
  /** The error class's name (GrpoConfigError, OutOfMemoryError, CheckpointError...). */
  name: string;
  /** What went wrong and what to change. */
  message: string;
  /** Whether starting again, with the change the message names, can succeed. */
  recoverable: boolean;
  /** The configuration field at fault (kind 'config'). */
  field?: string;
}

/** Something worth telling a person that does not stop the run (TRL's configuration warnings). */
export interface WarningEvent {
  type: 'warning';
  message: string;
}

export type RunEvent =
  | ReadyEvent
  | ProgressEvent
  | MetricsEvent
  | SamplesEvent
  | StateEvent
  | ErrorEvent
  | WarningEvent;

/** One usable row for the preview: its image as RGBA pixels and its ground-truth box. */
export interface PreviewRow {
  index: number;
  rowId: string;
  question: string;
  answer?: string;
  box: Box;
  width: number;
  height: number;
  /** RGBA pixels, width x height. */
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

export type DatasetEvent =
  | { type: 'dataset-opened'; id: number; report: ValidationReport }
  | { type: 'dataset-synthetic'; id: number; count: number; seed: number }
  | { type: 'dataset-preview'; id: number; row: PreviewRow }
  | { type: 'dataset-error'; id: number; error: { name: string; message: string } };

export type WorkerEvent = RunEvent | DatasetEvent;

const DATASET_EVENTS: ReadonlySet<string> = new Set([
  'dataset-opened',
  'dataset-synthetic',
  'dataset-preview',
  'dataset-error',
] satisfies DatasetEvent['type'][]);

export function isDatasetEvent(event: WorkerEvent): event is DatasetEvent {
  return DATASET_EVENTS.has(event.type);
}
