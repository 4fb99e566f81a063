// The GRPO worker: the app's training loop off the main thread, and the dataset panel's loader. A run
// resolves its configuration, opens its dataset, loads the model (nano from the app's public/ files or a
// dropped checkpoint folder) onto a WebGPU device of its own, builds the GrpoTrainer, and takes steps
// while running, posting metrics, per-sample records and progress after each; pause, resume, step and
// stop are honoured between steps. An error ends the run, frees its GPU memory (a lost or exhausted
// device is dropped and a fresh one requested by the next run) and is posted with what to change; the
// worker itself keeps serving. Messages: ./worker-protocol.ts.

import { toGroundingRows } from '../data/dataset.ts';
import type { DroppedEntry } from '../data/drop-browser.ts';
import { DatasetFormatError } from '../data/errors.ts';
import { droppedFileFromFile } from '../data/files.ts';
import { decodeImageBrowser } from '../data/image-decode-browser.ts';
import { openDataset } from '../data/open-dataset.ts';
import type { GroundingRow } from '../data/row.ts';
import { NANO_TASK, syntheticDataset } from '../data/synthetic.ts';
import { createBrowserGpu } from '../gpu/browser.ts';
import type { Gpu } from '../gpu/context.ts';
import { GpuError, NoAdapterError } from '../gpu/errors.ts';
import { filesOpener } from '../model/byte-source.ts';
import { loadModel, type WeightDtype } from '../model/load.ts';
import { disposeWeights, type Weights } from '../model/weights.ts';
import { type ModelKind, resolveBoxSpace } from './box-space.ts';
import { type GrpoConfig, resolveConfig, totalOptimizerSteps } from './config.ts';
import { rewardNames } from './rewards.ts';
import { GrpoTrainer } from './trainer.ts';
import { resolveWeightDtype } from './weight-dtype.ts';
import { describeError } from './worker-errors.ts';
import { countingOpener, fetchNanoFiles, loadPromptModelFrom, weightBytes } from './worker-model.ts';
import type {
  DatasetEvent,
  DatasetRequest,
  DatasetSource,
  OpenOptions,
  ProgressPhase,
  RunState,
  StartRequest,
  WorkerEvent,
  WorkerRequest,
} from './worker-protocol.ts';

function post(event: WorkerEvent, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(event, transfer);
}

const warn = (message: string) => post({ type: 'warning', message });

// ---------------------------------------------------------------------------------------------------------
// Datasets

interface OpenedRows {
  name: string;
  rows: GroundingRow[];
}

/** What the dataset panel last opened (the built-in synthetic set until it asks for another). */
let panel: OpenedRows = { name: 'none', rows: [] };

/** A name for what was dropped: the one top-level folder or file, else a count. */
function dropName(entries: readonly DroppedEntry[]): string {
  const tops = new Set(entries.map((e) => e.path.split('/')[0]));
  return tops.size === 1 ? [...tops][0]! : `${entries.length} files`;
}

async function openDropped(entries: readonly DroppedEntry[], options: OpenOptions) {
  const files = entries.map((e) => droppedFileFromFile(e.file, e.path));
  const dataset = await openDataset(files, { ...options, decode: decodeImageBrowser });
  return { report: dataset.report, rows: toGroundingRows(dataset) };
}

const syntheticName = (seed: number, count: number) => `synthetic (seed ${seed}, ${count} rows)`;

async function handleDataset(req: DatasetRequest): Promise<void> {
  switch (req.type) {
    case 'dataset-open': {
      const { report, rows } = await openDropped(req.entries, req.options);
      panel = { name: dropName(req.entries), rows };
      post({ type: 'dataset-opened', id: req.id, report });
      return;
    }
    case 'dataset-synthetic':
      panel = {
        name: syntheticName(req.seed, req.count),
        rows: syntheticDataset(req.seed, req.count, NANO_TASK),
      };
      post({ type: 'dataset-synthetic', id: req.id, count: req.count, seed: req.seed });
      return;
    case 'dataset-preview': {
      const row = panel.rows[req.index];
      if (row === undefined)
        throw new RangeError(`no usable row ${req.index} (there are ${panel.rows.length})`);
      const image = await row.image();
      const pixels = new Uint8ClampedArray(image.width * image.height * 4);
      pixels.set(image.data);
      const event: DatasetEvent = {
        type: 'dataset-preview',
        id: req.id,
        row: {
          index: req.index,
          rowId: row.id,
          question: row.question,
          ...(row.answer === undefined ? {} : { answer: row.answer }),
          box: row.box,
          width: image.width,
          height: image.height,
          pixels,
        },
      };
      post(event, [pixels.buffer]);
      return;
    }
  }
}

async function runDataset(source: DatasetSource): Promise<OpenedRows> {
  switch (source.kind) {
    case 'synthetic':
      return {
        name: syntheticName(source.seed, source.count),
        rows: syntheticDataset(source.seed, source.count, NANO_TASK),
      };
    case 'opened':
      if (panel.rows.length === 0)
        throw new DatasetFormatError(
          'the dataset panel',
          'it has no usable rows open; open a dataset there, or start with the synthetic set',
        );
      return panel;
    case 'files': {
      const { report, rows } = await openDropped(source.entries, source.options);
      if (report.usable < report.rows)
        warn(`${report.rows - report.usable} of ${report.rows} dataset rows are unusable and left out`);
      return { name: dropName(source.entries), rows };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run

/** Thrown between loading phases when `stop` (or a new `start`) arrived. */
class StopRequested extends Error {}

interface Run {
  request: StartRequest;
  paused: boolean;
  stopping: boolean;
  /** `step` requests not yet taken. */
  singleSteps: number;
  /** Wakes the loop when it waits (paused or finished). */
  wake: (() => void) | undefined;
  config?: GrpoConfig;
  weightDtype?: WeightDtype;
  weights?: Weights;
  trainer?: GrpoTrainer;
  /** Seconds of each step this worker took, for the ETA. */
  stepSeconds: number[];
}

/** The device runs share; dropped after a GPU error, requested again by the next run. */
let gpu: Gpu | undefined;
let run: Run | undefined;
let state: RunState = 'idle';
/** Settles when the current run has ended and released its memory. */
let runEnded: Promise<void> = Promise.resolve();
/** Serialises `start` requests. */
let starts: Promise<void> = Promise.resolve();

function setState(next: RunState, r: Run | undefined): void {
  if (next === state) return;
  state = next;
  post({ type: 'state', state, step: r?.trainer?.step ?? 0 });
}

function progress(phase: ProgressPhase, done: number, total: number, etaSeconds: number | null = null) {
  post({ type: 'progress', phase, done, total, etaSeconds });
}

function wake(r: Run): void {
  const w = r.wake;
  r.wake = undefined;
  w?.();
}

const sleep = (r: Run) =>
  new Promise<void>((resolve) => {
    r.wake = resolve;
  });

function checkStop(r: Run): void {
  if (r.stopping) throw new StopRequested();
}

async function acquireGpu(): Promise<Gpu> {
  if (gpu?.isLost) dropGpu();
  gpu ??= await createBrowserGpu();
  return gpu;
}

function dropGpu(): void {
  gpu?.destroy();
  gpu = undefined;
}

/** The nano checkpoint's folder in the app's public/ files. */
const nanoBase = () => new URL(`${import.meta.env.BASE_URL}nano/`, `${self.location.origin}/`);

async function setUp(r: Run): Promise<GrpoTrainer> {
  const req = r.request;
  const config = resolveConfig(req.config, {
    ...(req.preset === undefined ? {} : { preset: req.preset }),
    knownRewards: rewardNames(),
    onWarning: warn,
  });
  r.config = config;

  progress('opening-dataset', 0, 1);
  const dataset = await runDataset(req.dataset);
  // Fails now, not after the weights are on the GPU, when the rows cannot fill one generation batch.
  totalOptimizerSteps(config, dataset.rows.length);
  progress('opening-dataset', 1, 1);
  checkStop(r);

  progress('loading-model', 0, 0);
  const files = req.model.kind === 'nano' ? await fetchNanoFiles(nanoBase()) : req.model.files;
  const prompt = await loadPromptModelFrom(filesOpener(files));
  const kind: ModelKind = req.model.kind === 'nano' ? 'nano' : prompt.model.config.modelType;
  const space = resolveBoxSpace(config.box_space, kind, prompt.boxSpace);
  checkStop(r);

  const g = await acquireGpu();
  const weightDtype = resolveWeightDtype(config, g.hasF16);
  r.weightDtype = weightDtype;
  if (config.weight_dtype === 'f16' && weightDtype === 'f32')
    warn("weight_dtype 'f16': this adapter lacks shader-f16, so the weights stay f32");
  const total = weightBytes(files);
  let read = 0;
  let shown = 0;
  progress('loading-model', 0, total);
  // A stop while the weights load ends it at the next read; loadModel frees what it uploaded.
  const open = countingOpener(files, (bytes) => {
    checkStop(r);
    read += bytes;
    if (read - shown >= total / 50 || read === total) {
      shown = read;
      progress('loading-model', Math.min(read, total), total);
    }
  });
  const loaded = await loadModel(g, open, { weightDtype });
  r.weights = loaded.weights;
  // A stored tensor that is not uploaded (a tied lm_head.weight) is never read.
  if (shown < total) progress('loading-model', total, total);
  checkStop(r);

  const trainer = new GrpoTrainer({
    gpu: g,
    model: prompt.model,
    weights: loaded.weights,
    rows: dataset.rows,
    config,
    space,
    stopIds: prompt.stopIds,
  });
  r.trainer = trainer;
  const count = (tensors: Iterable<{ size: number }>) => [...tensors].reduce((n, t) => n + t.size, 0);
  post({
    type: 'ready',
    adapter: g.adapter,
    model: {
      kind,
      parameters: count(loaded.weights.values()),
      trainableParameters: count(trainer.policy.parameters.map((p) => p.tensor)),
      weightDtype: loaded.weightDtype,
      boxSpace: space,
    },
    dataset: { name: dataset.name, rows: dataset.rows.length },
    config,
    totalSteps: trainer.totalSteps,
  });
  progress('training', 0, trainer.totalSteps);
  return trainer;
}

async function takeStep(r: Run, trainer: GrpoTrainer): Promise<void> {
  const t0 = performance.now();
  const report = await trainer.trainStep();
  r.stepSeconds.push((performance.now() - t0) / 1000);
  post({
    type: 'metrics',
    step: report.step,
    totalSteps: report.totalSteps,
    metrics: report.metrics,
    ...(report.logged ? { logged: report.logged } : {}),
    ...(report.skipped ? { skipped: report.skipped } : {}),
  });
  if (report.records.length > 0) post({ type: 'samples', step: report.step, records: report.records });
  // The first step also compiles the kernels: left out of the mean once there are others.
  const times = r.stepSeconds.length > 1 ? r.stepSeconds.slice(1) : r.stepSeconds;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  progress('training', report.step, report.totalSteps, mean * (report.totalSteps - report.step));
}

async function trainLoop(r: Run, trainer: GrpoTrainer): Promise<void> {
  for (;;) {
    if (r.stopping) return;
    if (trainer.done) {
      setState('finished', r);
      await sleep(r);
      continue;
    }
    const single = r.paused && r.singleSteps > 0;
    if (r.paused && !single) {
      setState('paused', r);
      await sleep(r);
      continue;
    }
    if (single) r.singleSteps--;
    else setState('running', r);
    await takeStep(r, trainer);
  }
}

/** Frees the run's GPU memory; after a GPU error the device itself is dropped. */
async function release(r: Run, gpuFailed: boolean): Promise<void> {
  r.trainer?.dispose();
  if (r.weights) disposeWeights(r.weights);
  r.trainer = undefined;
  r.weights = undefined;
  if (!gpu) return;
  if (gpuFailed) return dropGpu();
  try {
    await gpu.sync();
    gpu.pool.trim();
  } catch {
    dropGpu();
  }
}

async function execute(r: Run): Promise<void> {
  let end: RunState = 'stopped';
  let step = 0;
  let gpuFailed = false;
  try {
    setState('running', r);
    const trainer = await setUp(r);
    await trainLoop(r, trainer);
    step = trainer.step;
  } catch (e) {
    step = r.trainer?.step ?? 0;
    if (!(e instanceof StopRequested)) {
      end = 'idle';
      gpuFailed = e instanceof GpuError && !(e instanceof NoAdapterError);
      post(
        describeError(e, {
          ...(r.config ? { config: r.config } : {}),
          ...(r.trainer ? { step: r.trainer.step + 1, totalSteps: r.trainer.totalSteps } : {}),
          ...(r.weightDtype ? { weightDtype: r.weightDtype } : {}),
          hasF16: gpu?.hasF16 ?? false,
        }),
      );
    }
  }
  try {
    await release(r, gpuFailed);
  } catch (e) {
    dropGpu();
    end = 'idle';
    post(describeError(e));
  }
  if (run === r) run = undefined;
  state = end;
  post({ type: 'state', state: end, step });
}

async function start(req: StartRequest): Promise<void> {
  if (run) {
    run.stopping = true;
    wake(run);
  }
  await runEnded;
  const r: Run = {
    request: req,
    paused: req.paused === true,
    stopping: false,
    singleSteps: 0,
    wake: undefined,
    stepSeconds: [],
  };
  run = r;
  runEnded = execute(r);
}

function steer(type: 'pause' | 'resume' | 'step' | 'stop'): void {
  const r = run;
  if (!r || r.stopping) {
    post({
      type: 'error',
      kind: 'request',
      name: 'RequestError',
      message: `'${type}' needs a run: send 'start' first`,
      recoverable: true,
    });
    return;
  }
  switch (type) {
    case 'pause':
      r.paused = true;
      break;
    case 'resume':
      r.paused = false;
      break;
    case 'step':
      if (r.trainer?.done) {
        warn(`the run has taken all its ${r.trainer.totalSteps} steps; start a new one to train further`);
        return;
      }
      if (r.paused) r.singleSteps++;
      break;
    case 'stop':
      r.stopping = true;
      break;
  }
  wake(r);
}

// ---------------------------------------------------------------------------------------------------------

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  switch (req.type) {
    case 'start':
      starts = starts.then(() => start(req));
      return;
    case 'pause':
    case 'resume':
    case 'step':
    case 'stop':
      steer(req.type);
      return;
    default:
      handleDataset(req).catch((e: unknown) => {
        const error =
          e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
        post({ type: 'dataset-error', id: req.id, error });
      });
  }
};
