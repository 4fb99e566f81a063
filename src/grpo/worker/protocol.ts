// Messages between the app and the GRPO worker (src/grpo/worker/worker.ts). Requests start a run (a model, a
// dataset, a configuration) or resume a stored one, steer it between steps (pause, resume, single step,
// stop), evaluate and export its current policy, list and delete the runs stored in the browser's
// Origin Private File System, and open or preview the dataset the dataset panel shows. Events report
// loading and training progress, TRL's metrics, per-sample records, saved checkpoints, the run's state,
// and errors that say what to change.
//
// Stored runs (src/grpo/worker/run-store.ts): runs/<runId>/run.json, metrics.jsonl, eval.jsonl and
// checkpoint-<step>/ (saveCheckpoint's files), saved every save_steps, at the end of the run and when it
// is stopped; only the last 2 checkpoints of a run are kept. Without OPFS the worker warns once and
// trains without saving.
//
// Dataset, eval, export, runs and delete-run requests carry an id that their reply repeats (an error
// answering one of the last four is an ErrorEvent with that id); run events carry none (there is one
// run).

import type { BoxFormat } from '../../data/box-format.ts';
import type { DroppedEntry } from '../../data/files/drop-browser.ts';
import type { Box } from '../../data/row.ts';
import type { FieldOverrides } from '../../data/sources/json-rows.ts';
import type { ValidationReport } from '../../data/validation-report.ts';
import type { AdapterSummary } from '../../gpu/adapter.ts';
import type { WeightDtype } from '../../model/load.ts';
import type { GrpoConfig } from '../config.ts';
import type { EvalSample } from '../eval.ts';
import type { Metrics } from '../metrics.ts';
import type { BoxSpace } from '../rewards/answer.ts';
import type { ModelKind } from '../rewards/box-space.ts';
import type { SampleRecord } from '../trainer.ts';
import type { EvalLine, MetricsLine, StoredRun } from './run-store.ts';
import type { Thumbnail } from './thumbnail.ts';

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
  /**
   * Continue a stored run from one of its checkpoints (default: the newest). `model` and `dataset` must
   * be the ones it was trained with (their names are checked). The checkpoint's config is used: a field
   * of `config` that differs from it is an error naming the field, except max_steps, which may change
   * (to train further); `preset` is ignored.
   */
  resume?: { runId: string; step?: number };
  /**
   * Held-out rows evaluated (greedy) before the first step and every eval_steps, as the CLI does; each
   * result is an eval-result event without an id. Default: none.
   */
  heldOut?: EvalRows;
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

/**
 * Held-out rows to evaluate on: the synthetic nano task (default seed 424242, never the training set's
 * seed unless asked), or rows of the dataset the panel opened (dataset-open / dataset-synthetic), by index.
 */
export type EvalRows =
  | { kind: 'synthetic'; count: number; seed?: number }
  | { kind: 'opened'; indices: number[] };

/**
 * Greedy evaluation of the loaded run's current policy (LoRA dropout off): when paused or finished at
 * once, while training after the step in flight. Answered by `eval-result`, with `evaluating` progress.
 */
export interface EvalRequest {
  type: 'eval';
  id: number;
  rows: EvalRows;
  /** Default: the run's max_completion_length. */
  maxCompletionLength?: number;
  /** Prompts generated together (default 8). */
  batchSize?: number;
}

/**
 * adapter: a LoRA run's adapter_config.json + adapter_model.safetensors (PEFT); merged: an HF model folder
 * (the model's config, tokenizer and processor files as loaded, and model.safetensors, F32, with the
 * adapter merged; needs f32 weights); metrics: metrics.jsonl and metrics.csv.
 */
export type ExportWhat = 'adapter' | 'merged' | 'metrics';

/**
 * Exports the loaded run (its current policy), or with `runId` a stored run that is not loaded (then
 * 'adapter' comes from its newest checkpoint and 'merged' needs it resumed first). Answered by
 * `export-result`.
 */
export interface ExportRequest {
  type: 'export';
  id: number;
  what: ExportWhat;
  runId?: string;
}

/**
 * The settings a start would use, on its model and rows, as a TRL job (src/grpo/trl/job.ts): answered by
 * `trl-job` with the project's files. `modelName` is what train.py loads (a hub id, or a folder the
 * person puts beside train.py; default the dropped folder's name); nano ships in the job's model/.
 */
export interface TrlExportRequest {
  type: 'export-trl';
  id: number;
  model: ModelSource;
  dataset: DatasetSource;
  preset?: string;
  config: Partial<GrpoConfig>;
  modelName?: string;
}

/** The runs stored in OPFS (`runs`), or one of them deleted with its checkpoints (`delete-run`). */
export type StoreRequest = { type: 'runs'; id: number } | { type: 'delete-run'; id: number; runId: string };

export type WorkerRequest =
  | RunRequest
  | DatasetRequest
  | EvalRequest
  | ExportRequest
  | TrlExportRequest
  | StoreRequest;

// ---------------------------------------------------------------------------------------------------------
// Events (worker -> app)

/**
 * idle: no run loaded (the worker's first state, and after an error ended a run); running: loading or
 * training; paused: loaded, waiting between steps; finished: every step taken (the run stays loaded
 * until `stop` or a new `start`); stopped: ended by `stop`, its memory freed.
 */
export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'finished';

export type ProgressPhase = 'loading-model' | 'opening-dataset' | 'training' | 'evaluating';

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
  /** The resolved configuration (defaults <- preset <- the request's config, or the resumed run's). */
  config: GrpoConfig;
  totalSteps: number;
  run: {
    /** Where the run's files go: runs/<id>/ in OPFS. */
    id: string;
    /** The checkpoint step a resumed run continues from; null for a new run. */
    resumedFrom: number | null;
    /** Whether checkpoints and metrics are saved (false without OPFS). */
    saving: boolean;
  };
  /** A resumed run's stored metrics lines and held-out evaluations up to the step it continues from. */
  history?: { metrics: MetricsLine[]; evals: EvalLine[] };
}

export interface ProgressEvent {
  type: 'progress';
  phase: ProgressPhase;
  /**
   * loading-model: weight bytes read; opening-dataset: 0 or 1; training: optimiser steps taken;
   * evaluating: rows evaluated.
   */
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
  /** Each record's image, small (src/grpo/worker/thumbnail.ts); null where it could not be read again. */
  images: (Thumbnail | null)[];
}

/** A checkpoint saved in OPFS. */
export interface CheckpointEvent {
  type: 'checkpoint';
  runId: string;
  step: number;
  /** runs/<runId>/checkpoint-<step>. */
  path: string;
  bytes: number;
  /** Steps of older checkpoints deleted (a run keeps its last 2). */
  removed: number[];
}

export interface StateEvent {
  type: 'state';
  state: RunState;
  /** Optimiser steps the run has taken. */
  step: number;
}

/**
 * config: a GrpoConfig field (named in `field`); model / dataset: a file that cannot be used;
 * checkpoint: a stored run or checkpoint that is missing or does not fit the request; export: an export
 * this run cannot give; out-of-memory / device-lost: the GPU gave up, the run ended, its memory is freed;
 * no-webgpu: this browser has no usable adapter; request: a message that does not fit the run's state;
 * internal: a bug.
 */
export type ErrorKind =
  | 'config'
  | 'model'
  | 'dataset'
  | 'checkpoint'
  | 'export'
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
  /** The request this answers (eval, export, runs, delete-run). */
  id?: number;
  /** The run's last saved checkpoint, kept, when an error ended a run that had saved one. */
  checkpoint?: { runId: string; step: number; path: string };
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
  | CheckpointEvent
  | StateEvent
  | ErrorEvent
  | WarningEvent;

export interface EvalResultEvent extends EvalLine {
  type: 'eval-result';
  /** The eval request answered; absent for the run's own evaluations of its held-out rows. */
  id?: number;
  samples: EvalSample[];
}

/** A file of an export; `bytes` is transferred with the message. */
export interface ExportedFile {
  name: string;
  bytes: Uint8Array<ArrayBuffer>;
}

export interface ExportResultEvent {
  type: 'export-result';
  id: number;
  what: ExportWhat;
  runId: string;
  /** The run's step the export shows. */
  step: number;
  files: ExportedFile[];
}

/** A TRL job's files, paths relative to the project folder. */
export interface TrlJobEvent {
  type: 'trl-job';
  id: number;
  /** The project folder's name. */
  name: string;
  files: ExportedFile[];
}

export type StoreEvent =
  /** available: false when this browser has no OPFS (runs is then empty). */
  | { type: 'runs'; id: number; available: boolean; runs: StoredRun[] }
  | { type: 'run-deleted'; id: number; runId: string };

export type PolicyEvent = EvalResultEvent | ExportResultEvent | TrlJobEvent;

/** An image's size in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

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

/** Why a dataset could not be opened; `needs: 'fields'` when naming its fields can fix it. */
export interface DatasetErrorInfo {
  name: string;
  message: string;
  needs?: 'fields';
  /** The row fields seen, with `needs`. */
  columns?: string[];
}

/**
 * dataset-progress: rows whose image has been checked so far while a dataset-open runs. dataset-superseded:
 * a later dataset-open or dataset-synthetic came before this one finished, so its result was dropped (the
 * later choice wins).
 */
export type DatasetEvent =
  /** largestImage: the usable row's image with the most pixels (null when no row is usable). */
  | { type: 'dataset-opened'; id: number; report: ValidationReport; largestImage: ImageSize | null }
  | { type: 'dataset-progress'; id: number; indexed: number; total: number }
  | { type: 'dataset-superseded'; id: number }
  | { type: 'dataset-synthetic'; id: number; count: number; seed: number }
  | { type: 'dataset-preview'; id: number; row: PreviewRow }
  | { type: 'dataset-error'; id: number; error: DatasetErrorInfo };

export type WorkerEvent = RunEvent | DatasetEvent | PolicyEvent | StoreEvent;

const DATASET_EVENTS: ReadonlySet<string> = new Set([
  'dataset-opened',
  'dataset-progress',
  'dataset-superseded',
  'dataset-synthetic',
  'dataset-preview',
  'dataset-error',
] satisfies DatasetEvent['type'][]);

export function isDatasetEvent(event: WorkerEvent): event is DatasetEvent {
  return DATASET_EVENTS.has(event.type);
}
