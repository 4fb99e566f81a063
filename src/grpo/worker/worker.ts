// The GRPO worker: the app's training loop off the main thread, and the dataset panel's loader. A run
// resolves its configuration, opens its dataset, loads the model (nano from the app's public/ files or a
// dropped checkpoint folder) onto a WebGPU device of its own, builds the GrpoTrainer (restored from a
// stored checkpoint when resuming), and takes steps while running, posting metrics, per-sample records
// and progress after each; pause, resume, step and stop are honoured between steps, and so are eval and
// export requests, which run in the same loop so they never overlap a step. Runs are saved in the
// browser's Origin Private File System (./run-store.ts): metrics every logged step, a checkpoint every
// save_steps, at the end and when stopped. An error ends the run, frees its GPU memory (a lost or
// exhausted device is dropped and a fresh one requested by the next run) and is posted with what to
// change and where the last checkpoint is kept; the worker itself keeps serving. Messages:
// ./protocol.ts.

import { toGroundingRows } from '../../data/dataset.ts';
import { DatasetFormatError } from '../../data/errors.ts';
import type { DroppedEntry } from '../../data/files/drop-browser.ts';
import { droppedFileFromFile } from '../../data/files/files.ts';
import { decodeImageBrowser } from '../../data/image/image-decode-browser.ts';
import { openDataset } from '../../data/open-dataset.ts';
import type { GroundingRow } from '../../data/row.ts';
import { NANO_TASK, syntheticDataset } from '../../data/synthetic.ts';
import { createBrowserGpu } from '../../gpu/browser.ts';
import type { Gpu } from '../../gpu/context.ts';
import { GpuError, NoAdapterError } from '../../gpu/errors.ts';
import { filesOpener } from '../../model/byte-source.ts';
import { loadModel, type WeightDtype } from '../../model/load.ts';
import type { PromptModel } from '../../model/prompt.ts';
import { disposeWeights, type Weights } from '../../model/weights.ts';
import { ADAPTER_CONFIG, loadStartingAdapter, withAdapterSettings } from '../adapter.ts';
import {
  CheckpointStateError,
  type RunInfo,
  readTrainerState,
  restoreCheckpoint,
  saveCheckpoint,
  TRAINER_STATE_FILE,
} from '../checkpoint.ts';
import {
  configToJson,
  type GrpoConfig,
  GrpoConfigError,
  intervalSteps,
  resolveConfig,
  totalOptimizerSteps,
} from '../config.ts';
import { type EvalResult, evaluate } from '../eval.ts';
import {
  adapterFiles,
  ExportError,
  type ExportFiles,
  MODEL_FILES,
  mergedWeightsFile,
  metricsFiles,
} from '../export.ts';
import type { BoxSpace } from '../rewards/answer.ts';
import { type ModelKind, resolveBoxSpace } from '../rewards/box-space.ts';
import { rewardNames } from '../rewards/rewards.ts';
import { GrpoTrainer } from '../trainer.ts';
import { resolveWeightDtype } from '../weight-dtype.ts';
import { describeError, RequestError } from './errors.ts';
import { countingOpener, fetchNanoFiles, folderAdapter, loadPromptModelFrom, weightBytes } from './model.ts';
import type {
  DatasetErrorInfo,
  DatasetEvent,
  DatasetRequest,
  DatasetSource,
  EvalRequest,
  EvalRows,
  ExportedFile,
  ExportRequest,
  ExportWhat,
  ImageSize,
  OpenOptions,
  ProgressPhase,
  RunState,
  StartRequest,
  StoreRequest,
  TrlExportRequest,
  WorkerEvent,
  WorkerRequest,
} from './protocol.ts';
import {
  checkRunId,
  type MetricsLine,
  newRunId,
  type RunRecord,
  RunStore,
  RunStoreError,
  type StoreDir,
} from './run-store.ts';
import { type Thumbnail, thumbnail } from './thumbnail.ts';
import { trlJobFiles } from './trl-export.ts';

function post(event: WorkerEvent, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(event, transfer);
}

const warn = (message: string) => post({ type: 'warning', message });

const errorText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Posts the error answering request `id`. */
function postRequestError(id: number, e: unknown): void {
  post({ ...describeError(e), id });
}

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

async function openDropped(
  entries: readonly DroppedEntry[],
  options: OpenOptions,
  onProgress?: (indexed: number, total: number) => void,
) {
  const files = entries.map((e) => droppedFileFromFile(e.file, e.path));
  const dataset = await openDataset(files, {
    ...options,
    decode: decodeImageBrowser,
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  return { report: dataset.report, rows: toGroundingRows(dataset) };
}

/** The latest dataset-open or dataset-synthetic request: an earlier one finishing later is superseded. */
let latestChoice = 0;
/** Progress events at most this often (ms) while a dataset opens. */
const PROGRESS_EVERY_MS = 100;

const syntheticName = (seed: number, count: number) => `synthetic (seed ${seed}, ${count} rows)`;

async function handleDataset(req: DatasetRequest): Promise<void> {
  switch (req.type) {
    case 'dataset-open': {
      latestChoice = req.id;
      let posted = 0;
      const { report, rows } = await openDropped(req.entries, req.options, (indexed, total) => {
        const now = Date.now();
        if (indexed < total && now - posted < PROGRESS_EVERY_MS) return;
        posted = now;
        if (latestChoice === req.id) post({ type: 'dataset-progress', id: req.id, indexed, total });
      });
      if (latestChoice !== req.id) {
        post({ type: 'dataset-superseded', id: req.id });
        return;
      }
      panel = { name: dropName(req.entries), rows };
      let largestImage: ImageSize | null = null;
      for (const row of rows)
        if (!largestImage || row.width * row.height > largestImage.width * largestImage.height)
          largestImage = { width: row.width, height: row.height };
      post({ type: 'dataset-opened', id: req.id, report, largestImage });
      return;
    }
    case 'dataset-synthetic':
      latestChoice = req.id;
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
// Stored runs

let storeOpened: Promise<RunStore | undefined> | undefined;

/** The OPFS run store, opened once; without OPFS, a warning (once) and undefined. */
function runStore(): Promise<RunStore | undefined> {
  storeOpened ??= (async () => {
    try {
      if (typeof navigator.storage?.getDirectory !== 'function')
        throw new Error('navigator.storage.getDirectory is missing');
      // The handle has every member StoreDir names; only its iterator's element type is wider.
      return new RunStore((await navigator.storage.getDirectory()) as unknown as StoreDir);
    } catch (e) {
      warn(
        `this browser gives no Origin Private File System (${errorText(e)}), so runs are not saved: ` +
          'training goes on without checkpoints; export the adapter and metrics before closing the page',
      );
      return undefined;
    }
  })();
  return storeOpened;
}

const noStore = () =>
  new RunStoreError(
    "stored runs need the browser's Origin Private File System, which this browser does not give",
  );

// ---------------------------------------------------------------------------------------------------------
// The run

/** Thrown between loading phases when `stop` (or a new `start`) arrived. */
class StopRequested extends Error {}

/** Work on the loaded policy that runs between steps (eval, export). */
interface Task {
  id: number;
  type: 'eval' | 'export';
  run: (r: Run, trainer: GrpoTrainer) => Promise<void>;
}

interface Run {
  request: StartRequest;
  /** runs/<id>/ in the store. */
  id: string;
  resumedFrom: number | null;
  created: string;
  paused: boolean;
  stopping: boolean;
  /** `step` requests not yet taken. */
  singleSteps: number;
  /** Wakes the loop when it waits (paused or finished). */
  wake: (() => void) | undefined;
  tasks: Task[];
  /** The request whose task hit a GPU error, for the error event. */
  failedRequest?: number;
  config?: GrpoConfig;
  weightDtype?: WeightDtype;
  weights?: Weights;
  trainer?: GrpoTrainer;
  modelName?: string;
  modelFiles?: File[];
  prompt?: { model: PromptModel; stopIds: number[] };
  space?: BoxSpace;
  datasetName?: string;
  /** The training rows by id, to send each step's images with its records. */
  rows?: Map<string, GroundingRow>;
  /** Undefined without OPFS. */
  store?: RunStore;
  /** Whether run.json is written (on the first save or logged step). */
  stored: boolean;
  saveEvery: number;
  /** The last complete checkpoint. */
  saved?: { step: number; path: string };
  /** The logged metrics as JSON lines (all of them without OPFS). */
  metricsLines: string[];
  /** Whether a failed metrics or eval write was warned about. */
  storageWarned: boolean;
  /** Seconds of each step this worker took, for the ETA. */
  stepSeconds: number[];
  /** The held-out rows evaluated every evalEvery steps (0: never). */
  heldOut?: OpenedRows;
  evalEvery: number;
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

/** nano, or a dropped folder's name (when the drop kept paths), else its model type. */
function modelNameOf(req: StartRequest, modelType: string): string {
  if (req.model.kind === 'nano') return 'nano';
  const top = req.model.files.map((f) => f.webkitRelativePath.split('/')[0]).find((t) => t);
  return top ?? modelType;
}

/**
 * A resumed run's config: the checkpoint's, with the request's max_steps; any other field of the request
 * that differs from the checkpoint's is an error naming it.
 */
function resumedConfig(stored: Record<string, unknown>, request: Record<string, unknown>, runId: string) {
  const options = { knownRewards: rewardNames(), onWarning: warn };
  const base = configToJson(resolveConfig(stored, { knownRewards: rewardNames() }));
  const merged = resolveConfig({ ...stored, ...request }, options);
  const now = configToJson(merged);
  for (const key of Object.keys(request)) {
    if (key === 'max_steps' || request[key] === undefined) continue;
    if (JSON.stringify(now[key]) !== JSON.stringify(base[key]))
      throw new GrpoConfigError(
        key,
        `${key}: run '${runId}' was trained with ${JSON.stringify(base[key])} and a resumed run keeps its ` +
          `config; leave ${key} out of the request (only max_steps may change), or start a new run`,
      );
  }
  return merged;
}

async function setUp(r: Run): Promise<GrpoTrainer> {
  const req = r.request;
  const store = await runStore();
  r.store = store;
  let resume: { step: number; run: RunInfo } | undefined;
  let config: GrpoConfig;
  if (req.resume) {
    if (!store) throw noStore();
    const id = checkRunId(req.resume.runId);
    const record = await store.readRun(id);
    const step = await store.resumeStep(id, req.resume.step);
    const saved = readTrainerState(await store.readCheckpointFile(id, step, TRAINER_STATE_FILE));
    config = resumedConfig(saved.config, req.config, id);
    resume = { step, run: saved.run };
    Object.assign(r, { id, resumedFrom: step, created: record.created });
  } else {
    config = resolveConfig(req.config, {
      ...(req.preset === undefined ? {} : { preset: req.preset }),
      knownRewards: rewardNames(),
      onWarning: warn,
    });
    while (store && (await store.has(r.id))) r.id = newRunId();
  }
  r.config = config;

  progress('opening-dataset', 0, 1);
  const dataset = await runDataset(req.dataset);
  // Fails now, not after the weights are on the GPU, when the rows cannot fill one generation batch.
  const totalSteps = totalOptimizerSteps(config, dataset.rows.length);
  r.saveEvery = intervalSteps(config.save_steps, totalSteps);
  if (req.heldOut !== undefined && config.eval_steps !== null) {
    r.heldOut = evalRows(req.heldOut, r);
    r.evalEvery = intervalSteps(config.eval_steps, totalSteps);
  }
  if (resume && dataset.name !== resume.run.dataset)
    throw new CheckpointStateError(
      `run '${r.id}' was trained on the dataset '${resume.run.dataset}', not '${dataset.name}'; resume ` +
        'it with the same dataset',
    );
  r.datasetName = dataset.name;
  r.rows = new Map(dataset.rows.map((row) => [row.id, row]));
  progress('opening-dataset', 1, 1);
  checkStop(r);

  progress('loading-model', 0, 0);
  const files = req.model.kind === 'nano' ? await fetchNanoFiles(nanoBase()) : req.model.files;
  const prompt = await loadPromptModelFrom(filesOpener(files));
  const kind: ModelKind = req.model.kind === 'nano' ? 'nano' : prompt.model.config.modelType;
  // A resumed run's checkpoint holds its adapter already.
  const adapter = resume ? undefined : await folderAdapter(files);
  if (adapter) {
    config = withAdapterSettings(config, adapter[ADAPTER_CONFIG], warn);
    r.config = config;
  }
  const space = resolveBoxSpace(config.box_space, kind, prompt.boxSpace);
  r.modelName = modelNameOf(req, prompt.model.config.modelType);
  if (resume && r.modelName !== resume.run.model)
    throw new CheckpointStateError(
      `run '${r.id}' was trained on the model '${resume.run.model}', not '${r.modelName}'; resume it ` +
        'with the same model',
    );
  Object.assign(r, { modelFiles: files, prompt: { model: prompt.model, stopIds: prompt.stopIds }, space });
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

  const lora = adapter && (await loadStartingAdapter(g, prompt.model.config, adapter, config));
  let trainer: GrpoTrainer;
  try {
    trainer = new GrpoTrainer({
      gpu: g,
      model: prompt.model,
      weights: loaded.weights,
      rows: dataset.rows,
      config,
      space,
      stopIds: prompt.stopIds,
      ...(lora ? { adapter: lora } : {}),
    });
  } catch (e) {
    lora?.dispose();
    throw e;
  }
  r.trainer = trainer;
  if (resume && store) {
    r.saved = { step: resume.step, path: `runs/${r.id}/checkpoint-${resume.step}` };
    await restoreCheckpoint(trainer, (name) => store.readCheckpointFile(r.id, resume.step, name));
    // The steps after the checkpoint are taken again: their old metrics go.
    await store.truncateMetrics(r.id, resume.step);
    await store.writeRun(runRecord(r));
    r.stored = true;
  }
  const count = (tensors: Iterable<{ size: number }>) => [...tensors].reduce((n, t) => n + t.size, 0);
  const history = resume && store ? await store.history(r.id, resume.step) : undefined;
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
    run: { id: r.id, resumedFrom: r.resumedFrom, saving: store !== undefined },
    ...(history ? { history } : {}),
  });
  progress('training', trainer.step, trainer.totalSteps);
  return trainer;
}

function runRecord(r: Run): RunRecord {
  return {
    format: 'vision-grpo-run',
    version: 1,
    id: r.id,
    model: r.modelName!,
    dataset: r.datasetName!,
    config: configToJson(r.config!),
    created: r.created,
  };
}

/** Writes run.json before the run's first file. */
async function ensureStored(r: Run, store: RunStore): Promise<void> {
  if (r.stored) return;
  await store.writeRun(runRecord(r));
  r.stored = true;
}

/** Warns that a write to OPFS failed: every checkpoint, but metrics and evaluations once per run. */
function storageFailed(r: Run, what: string, e: unknown, always = false): void {
  if (r.storageWarned && !always) return;
  r.storageWarned = true;
  warn(
    `${what} could not be saved in this browser's storage (${errorText(e)}); training goes on. ` +
      `${r.saved ? `The last saved checkpoint is ${r.saved.path}. ` : ''}Free space by deleting old runs ` +
      "('delete-run'), or export the adapter and metrics now",
  );
}

async function logMetrics(r: Run, line: MetricsLine): Promise<void> {
  r.metricsLines.push(JSON.stringify(line));
  if (!r.store) return;
  try {
    await ensureStored(r, r.store);
    await r.store.appendMetrics(r.id, line);
  } catch (e) {
    storageFailed(r, `the metrics of step ${line.step}`, e);
  }
}

/** Saves a checkpoint of the current step unless it is step 0 or already saved. */
async function save(r: Run, trainer: GrpoTrainer): Promise<void> {
  const store = r.store;
  const step = trainer.step;
  if (!store || step === 0 || r.saved?.step === step) return;
  // Reads the GPU: a GPU error here ends the run like a failed step.
  const files = await saveCheckpoint(trainer, { model: r.modelName!, dataset: r.datasetName!, run_id: r.id });
  try {
    await ensureStored(r, store);
    const { path, removed } = await store.saveCheckpoint(r.id, step, files);
    r.saved = { step, path };
    const bytes = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
    post({ type: 'checkpoint', runId: r.id, step, path, bytes, removed });
  } catch (e) {
    storageFailed(r, `checkpoint-${step}`, e, true);
  }
}

/** A record's image as a thumbnail; null (the app then draws the boxes alone) when it cannot be read again. */
async function recordImage(r: Run, id: string): Promise<Thumbnail | null> {
  const row = r.rows?.get(id);
  if (!row) return null;
  try {
    return thumbnail(await row.image());
  } catch {
    return null;
  }
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
  if (report.records.length > 0) {
    const images = await Promise.all(report.records.map((record) => recordImage(r, record.id)));
    const buffers = images.flatMap((image) => (image ? [image.pixels.buffer] : []));
    post({ type: 'samples', step: report.step, records: report.records, images }, buffers);
  }
  // The first step also compiles the kernels: left out of the mean once there are others.
  const times = r.stepSeconds.length > 1 ? r.stepSeconds.slice(1) : r.stepSeconds;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  progress('training', report.step, report.totalSteps, mean * (report.totalSteps - report.step));
  if (report.logged) await logMetrics(r, { step: report.step, ...report.logged });
  if (r.evalEvery > 0 && (report.step % r.evalEvery === 0 || trainer.done)) await evaluateHeldOut(r, trainer);
  if (report.step % r.saveEvery === 0 || trainer.done) await save(r, trainer);
}

/** The run's own evaluation of its held-out rows (before the first step and every eval_steps). */
async function evaluateHeldOut(r: Run, trainer: GrpoTrainer): Promise<void> {
  if (r.heldOut === undefined) return;
  await runEval(r, trainer, r.heldOut, {});
}

async function runTask(r: Run, trainer: GrpoTrainer, task: Task): Promise<void> {
  try {
    await task.run(r, trainer);
  } catch (e) {
    if (e instanceof GpuError) {
      r.failedRequest = task.id;
      throw e;
    }
    postRequestError(task.id, e);
  }
}

async function trainLoop(r: Run, trainer: GrpoTrainer): Promise<void> {
  // The starting point, so the run's gain shows against it.
  if (r.evalEvery > 0 && trainer.step === 0) await evaluateHeldOut(r, trainer);
  for (;;) {
    if (r.stopping) return save(r, trainer);
    const task = r.tasks.shift();
    if (task) {
      await runTask(r, trainer, task);
      continue;
    }
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
      post({
        ...describeError(e, {
          ...(r.config ? { config: r.config } : {}),
          ...(r.trainer ? { step: r.trainer.step + 1, totalSteps: r.trainer.totalSteps } : {}),
          ...(r.weightDtype ? { weightDtype: r.weightDtype } : {}),
          ...(r.store
            ? { store: { runId: r.id, saveEvery: r.saveEvery, ...(r.saved ? { last: r.saved } : {}) } }
            : {}),
          hasF16: gpu?.hasF16 ?? false,
        }),
        ...(r.failedRequest === undefined ? {} : { id: r.failedRequest }),
      });
    }
  }
  for (const task of r.tasks.splice(0))
    postRequestError(
      task.id,
      new RequestError(`the run ended before '${task.type}' ran; load a run and send it again`),
    );
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
    id: newRunId(),
    resumedFrom: null,
    created: new Date().toISOString(),
    paused: req.paused === true,
    stopping: false,
    singleSteps: 0,
    wake: undefined,
    tasks: [],
    stored: false,
    saveEvery: 1,
    metricsLines: [],
    storageWarned: false,
    stepSeconds: [],
    evalEvery: 0,
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

/** The loaded run, for work on its policy. */
function loadedRun(type: Task['type']): Run {
  const r = run;
  if (!r || r.stopping)
    throw new RequestError(
      `'${type}' needs a loaded run: start one (or resume a stored run with paused: true) first`,
    );
  return r;
}

/** Queues work on the run's policy: it runs before the next step (at once when paused or finished). */
function enqueue(r: Run, task: Task): void {
  r.tasks.push(task);
  wake(r);
}

// ---------------------------------------------------------------------------------------------------------
// Eval and export

/** The default held-out seed of the synthetic eval rows (the CLI's too). */
const EVAL_SEED = 424242;

function evalRows(rows: EvalRows, r: Run): OpenedRows {
  if (rows.kind === 'synthetic') {
    const { count } = rows;
    if (!Number.isInteger(count) || count < 1)
      throw new RequestError(`eval: rows.count must be a whole number of rows from 1, got ${count}`);
    const training = r.request.dataset.kind === 'synthetic' ? r.request.dataset.seed : undefined;
    const seed = rows.seed ?? (training === EVAL_SEED ? EVAL_SEED + 1 : EVAL_SEED);
    if (!Number.isInteger(seed) || seed < 0)
      throw new RequestError(`eval: rows.seed must be a whole number from 0, got ${seed}`);
    if (seed === training) warn(`eval: seed ${seed} is the training set's, so these rows are not held out`);
    return { name: syntheticName(seed, count), rows: syntheticDataset(seed, count, NANO_TASK) };
  }
  const { indices } = rows;
  if (!Array.isArray(indices) || indices.length === 0)
    throw new RequestError('eval: rows.indices must list the opened dataset rows to evaluate');
  const bad = indices.find((i) => !Number.isInteger(i) || panel.rows[i] === undefined);
  if (bad !== undefined)
    throw new RequestError(
      `eval: there is no usable row ${bad} in the opened dataset '${panel.name}' (it has ` +
        `${panel.rows.length}); open a dataset first, or give indices below ${panel.rows.length}`,
    );
  const shown = indices.slice(0, 8).join(', ') + (indices.length > 8 ? ', ...' : '');
  return { name: `${panel.name} rows ${shown}`, rows: indices.map((i) => panel.rows[i]!) };
}

function evalTask(req: EvalRequest, loaded: Run): Task {
  const held = evalRows(req.rows, loaded);
  const length = req.maxCompletionLength;
  if (length !== undefined && !(Number.isInteger(length) && length >= 1))
    throw new RequestError(`eval: maxCompletionLength must be a whole number from 1, got ${length}`);
  const batch = req.batchSize;
  if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1))
    throw new RequestError(`eval: batchSize must be a whole number from 1, got ${batch}`);
  return {
    id: req.id,
    type: 'eval',
    run: (r, trainer) =>
      runEval(r, trainer, held, {
        id: req.id,
        ...(length === undefined ? {} : { maxCompletionLength: length }),
        ...(batch === undefined ? {} : { batchSize: batch }),
      }),
  };
}

/** Greedy evaluation of the current policy on `held`: an eval-result event, kept in the run's store. */
async function runEval(
  r: Run,
  trainer: GrpoTrainer,
  held: OpenedRows,
  opts: { id?: number; maxCompletionLength?: number; batchSize?: number },
): Promise<void> {
  const c = r.config!;
  const lora = trainer.policy.lora;
  const training = lora?.training;
  if (lora) lora.training = false;
  progress('evaluating', 0, held.rows.length);
  let result: EvalResult;
  try {
    result = await evaluate(trainer.setup.gpu, r.prompt!.model, trainer.policy.current, held.rows, {
      space: r.space!,
      maxCompletionLength: opts.maxCompletionLength ?? c.max_completion_length,
      stopIds: r.prompt!.stopIds,
      systemPrompt: c.system_prompt,
      prefill: c.assistant_prefill,
      minPixels: c.min_pixels,
      maxPixels: c.max_pixels,
      ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
      onProgress: (done, total) => progress('evaluating', done, total),
    });
  } finally {
    if (lora) lora.training = training!;
  }
  const { n, acc50, mean_iou, format_rate, samples } = result;
  post({
    type: 'eval-result',
    ...(opts.id === undefined ? {} : { id: opts.id }),
    step: trainer.step,
    rows: held.name,
    n,
    acc50,
    mean_iou,
    format_rate,
    samples,
  });
  if (!r.store) return;
  try {
    await ensureStored(r, r.store);
    await r.store.appendEval(r.id, { step: trainer.step, rows: held.name, n, acc50, mean_iou, format_rate });
  } catch (e) {
    storageFailed(r, 'the evaluation', e);
  }
}

/** A file of an export, its bytes in an ArrayBuffer of their own (so it can be transferred). */
function exported(name: string, bytes: Uint8Array): ExportedFile {
  const own =
    bytes.buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength
      ? (bytes as Uint8Array<ArrayBuffer>)
      : new Uint8Array(bytes);
  return { name, bytes: own };
}

function postExport(id: number, what: ExportWhat, runId: string, step: number, files: ExportFiles): void {
  const list = Object.entries(files).map(([name, bytes]) => exported(name, bytes));
  post(
    { type: 'export-result', id, what, runId, step, files: list },
    list.map((f) => f.bytes.buffer),
  );
}

async function liveExport(r: Run, trainer: GrpoTrainer, what: ExportWhat): Promise<ExportFiles> {
  switch (what) {
    case 'adapter':
      return adapterFiles(trainer.policy.lora, r.modelName!);
    case 'merged': {
      const files: ExportFiles = {};
      const weights = await mergedWeightsFile(trainer.setup.gpu, r.weights!, trainer.policy.lora);
      for (const f of r.modelFiles!)
        if (MODEL_FILES.includes(f.name)) files[f.name] = new Uint8Array(await f.arrayBuffer());
      files['model.safetensors'] = weights;
      return files;
    }
    case 'metrics': {
      const text =
        r.store && r.stored ? await r.store.readMetrics(r.id) : r.metricsLines.map((l) => `${l}\n`).join('');
      return metricsFiles(text);
    }
  }
}

/** An export of a stored run that is not loaded, from its files. */
async function storedExport(req: ExportRequest, runId: string): Promise<void> {
  const store = await runStore();
  if (!store) throw noStore();
  await store.readRun(runId);
  if (req.what === 'metrics') {
    const text = await store.readMetrics(runId);
    const last = text.trim().split('\n').at(-1);
    const step = last ? (JSON.parse(last) as MetricsLine).step : 0;
    return postExport(req.id, req.what, runId, step, metricsFiles(text));
  }
  if (req.what === 'merged')
    throw new ExportError(
      `a merged export needs the run loaded: resume run '${runId}' (a start request with resume: ` +
        "{ runId } and paused: true), then export 'merged'",
    );
  const step = await store.resumeStep(runId);
  const files: ExportFiles = {};
  for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
    const bytes = await store.readCheckpointFile(runId, step, name);
    if (!bytes)
      throw new ExportError(
        `run '${runId}' fine-tunes every weight (use_peft false), so it has no adapter; resume it and ` +
          "export 'merged' for the full model folder",
      );
    files[name] = bytes;
  }
  postExport(req.id, req.what, runId, step, files);
}

async function handleExport(req: ExportRequest): Promise<void> {
  if (!['adapter', 'merged', 'metrics'].includes(req.what))
    throw new RequestError(
      `export: what must be 'adapter', 'merged' or 'metrics', got ${JSON.stringify(req.what)}`,
    );
  const runId = req.runId === undefined ? undefined : checkRunId(req.runId);
  if (runId !== undefined && (run === undefined || run.stopping || run.id !== runId))
    return storedExport(req, runId);
  enqueue(loadedRun('export'), {
    id: req.id,
    type: 'export',
    run: async (r, trainer) => {
      const files = await liveExport(r, trainer, req.what);
      postExport(req.id, req.what, r.id, trainer.step, files);
    },
  });
}

async function handleTrlExport(req: TrlExportRequest): Promise<void> {
  const job = await trlJobFiles(req, {
    modelFiles: () =>
      req.model.kind === 'nano' ? fetchNanoFiles(nanoBase()) : Promise.resolve(req.model.files),
    rows: () => runDataset(req.dataset),
    warn,
  });
  const files = [...job.files].map(([name, bytes]) => exported(name, bytes));
  post(
    { type: 'trl-job', id: req.id, name: job.name, files },
    files.map((f) => f.bytes.buffer),
  );
}

async function handleStore(req: StoreRequest): Promise<void> {
  const store = await runStore();
  switch (req.type) {
    case 'runs':
      post({
        type: 'runs',
        id: req.id,
        available: store !== undefined,
        runs: store ? await store.list() : [],
      });
      return;
    case 'delete-run': {
      const runId = checkRunId(req.runId);
      if (!store) throw noStore();
      if (run && run.id === runId)
        throw new RequestError(`run '${runId}' is loaded; stop it first, then delete it`);
      await store.deleteRun(runId);
      post({ type: 'run-deleted', id: req.id, runId });
      return;
    }
  }
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
    case 'eval':
      try {
        const r = loadedRun('eval');
        enqueue(r, evalTask(req, r));
      } catch (e) {
        postRequestError(req.id, e);
      }
      return;
    case 'export':
      handleExport(req).catch((e: unknown) => postRequestError(req.id, e));
      return;
    case 'export-trl':
      handleTrlExport(req).catch((e: unknown) => postRequestError(req.id, e));
      return;
    case 'runs':
    case 'delete-run':
      handleStore(req).catch((e: unknown) => postRequestError(req.id, e));
      return;
    default:
      handleDataset(req).catch((e: unknown) => {
        if (req.type === 'dataset-open' && latestChoice !== req.id) {
          post({ type: 'dataset-superseded', id: req.id });
          return;
        }
        const error: DatasetErrorInfo =
          e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
        if (e instanceof DatasetFormatError && e.needs !== undefined) {
          error.needs = e.needs;
          error.columns = e.columns ?? [];
        }
        post({ type: 'dataset-error', id: req.id, error });
      });
  }
};
