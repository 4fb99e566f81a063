// Training runs kept in a directory tree: the browser's Origin Private File System in the worker (any
// store with the few File System API calls below works, so tests use one in memory). Layout:
//   runs/<runId>/run.json              model and dataset names, config, created time
//   runs/<runId>/metrics.jsonl         one line per logged step: `step` and TRL's metric names
//   runs/<runId>/eval.jsonl            one line per evaluation
//   runs/<runId>/checkpoint-<step>/    saveCheckpoint's files
// Only the last KEEP_CHECKPOINTS complete checkpoints of a run are kept: older ones are deleted once a
// newer one is complete (and a run resumed from an earlier checkpoint replaces the later ones when it
// next saves). trainer_state.json is written last, so a checkpoint folder without it is an
// interrupted save: never listed or restored, and deleted by the next save. Files are written with
// createWritable(), which replaces a file only when the stream closes, so no file is ever left half
// written; it also works outside workers and takes no exclusive lock. (createSyncAccessHandle() works
// in headless Chromium's workers too and is a little faster, but writes in place and locks the file.)
import { TRAINER_STATE_FILE } from '../checkpoint.ts';
import type { Metrics } from '../metrics.ts';

export const KEEP_CHECKPOINTS = 2;
export const RUNS_DIR = 'runs';

// The parts of FileSystemDirectoryHandle / FileSystemFileHandle this store uses.
export interface StoreWritable {
  write(data: Uint8Array | string): Promise<void>;
  seek(position: number): Promise<void>;
  close(): Promise<void>;
  abort?(reason?: unknown): Promise<void>;
}
export interface StoreFile {
  readonly kind: 'file';
  readonly name: string;
  getFile(): Promise<Blob>;
  createWritable(options?: { keepExistingData?: boolean }): Promise<StoreWritable>;
}
export interface StoreDir {
  readonly kind: 'directory';
  readonly name: string;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<StoreDir>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<StoreFile>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  values(): AsyncIterable<StoreDir | StoreFile>;
}

/** run.json. */
export interface RunRecord {
  format: 'vision-grpo-run';
  version: 1;
  id: string;
  /** The model's name ('nano', or the dropped checkpoint's model type). */
  model: string;
  dataset: string;
  /** The resolved GrpoConfig as JSON (the latest the run was started or resumed with). */
  config: Record<string, unknown>;
  /** ISO 8601. */
  created: string;
}

export interface StoredCheckpoint {
  step: number;
  /** `runs/<runId>/checkpoint-<step>`. */
  path: string;
  files: string[];
  bytes: number;
}

export type MetricsLine = { step: number } & Metrics;

/** A line of eval.jsonl: one greedy evaluation. */
export interface EvalLine {
  /** The optimiser step of the policy evaluated. */
  step: number;
  /** Which rows: 'synthetic (seed S, N rows)' or 'NAME rows i, j, ...'. */
  rows: string;
  n: number;
  /** Share of samples with IoU > 0.5. */
  acc50: number;
  mean_iou: number;
  format_rate: number;
}

export interface StoredRun extends RunRecord {
  /** Complete checkpoints, oldest first. */
  checkpoints: StoredCheckpoint[];
  /** The last line of metrics.jsonl, or null before the first logged step. */
  lastMetrics: MetricsLine | null;
}

/** A stored run or checkpoint that is missing, damaged or misnamed; the message says what to do. */
export class RunStoreError extends Error {
  override name = 'RunStoreError';
}

const RUN_FILE = 'run.json';
const METRICS_FILE = 'metrics.jsonl';
const EVAL_FILE = 'eval.jsonl';

/** A DOMException for an entry that is not there (or is a file where a folder was asked for). */
const isMissing = (e: unknown) => {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'NotFoundError' || name === 'TypeMismatchError';
};

/** A run id: letters, digits, '.', '_' and '-' (no path separators), as newRunId makes them. */
export function checkRunId(id: unknown): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(id) || /^\.+$/.test(id))
    throw new RunStoreError(
      `${JSON.stringify(id)} is not a run id; use one that 'runs' lists (like 20250101-120000-a1b2)`,
    );
  return id;
}

/** `YYYYMMDD-HHMMSS-xxxx` (UTC, 4 random hex digits): sorts by creation time. */
export function newRunId(now = new Date(), random = Math.random): string {
  const iso = now.toISOString();
  const hex = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${hex}`;
}

const checkpointPath = (id: string, step: number) => `${RUNS_DIR}/${id}/checkpoint-${step}`;

async function child(dir: StoreDir, name: string, create = false): Promise<StoreDir | undefined> {
  try {
    return await dir.getDirectoryHandle(name, { create });
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

async function readBytes(dir: StoreDir, name: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await (await (await dir.getFileHandle(name)).getFile()).arrayBuffer());
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

async function readText(dir: StoreDir, name: string): Promise<string | undefined> {
  const bytes = await readBytes(dir, name);
  return bytes && new TextDecoder().decode(bytes);
}

/** Writes (or, with `append`, appends to) a file; the file changes only when the stream closes. */
async function writeFile(dir: StoreDir, name: string, data: Uint8Array | string, append = false) {
  const handle = await dir.getFileHandle(name, { create: true });
  const stream = await handle.createWritable({ keepExistingData: append });
  try {
    if (append) await stream.seek((await handle.getFile()).size);
    await stream.write(data);
    await stream.close();
  } catch (e) {
    await stream.abort?.(e).catch(() => {});
    throw e;
  }
}

async function remove(dir: StoreDir, name: string): Promise<void> {
  try {
    await dir.removeEntry(name, { recursive: true });
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
}

async function entries(dir: StoreDir): Promise<(StoreDir | StoreFile)[]> {
  const out: (StoreDir | StoreFile)[] = [];
  for await (const e of dir.values()) out.push(e);
  return out;
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim());

export class RunStore {
  constructor(private readonly root: StoreDir) {}

  private async runs(create = false): Promise<StoreDir | undefined> {
    return child(this.root, RUNS_DIR, create);
  }

  private async runDir(id: string, create = false): Promise<StoreDir> {
    checkRunId(id);
    const runs = await this.runs(create);
    const dir = runs && (await child(runs, id, create));
    if (!dir)
      throw new RunStoreError(
        `there is no run '${id}' in this browser's storage; send 'runs' to list the stored runs`,
      );
    return dir;
  }

  /** Whether a run folder of that id exists. */
  async has(id: string): Promise<boolean> {
    const runs = await this.runs();
    return runs !== undefined && (await child(runs, checkRunId(id))) !== undefined;
  }

  /** Creates the run's folder if needed and (re)writes its run.json. */
  async writeRun(record: RunRecord): Promise<void> {
    const dir = await this.runDir(record.id, true);
    await writeFile(dir, RUN_FILE, `${JSON.stringify(record, null, 1)}\n`);
  }

  async readRun(id: string): Promise<RunRecord> {
    const text = await readText(await this.runDir(id), RUN_FILE);
    let record: RunRecord | undefined;
    try {
      record = text === undefined ? undefined : (JSON.parse(text) as RunRecord);
    } catch {
      record = undefined;
    }
    if (record?.format !== 'vision-grpo-run')
      throw new RunStoreError(
        `run '${id}' has no readable ${RUN_FILE}; it is damaged: delete it ('delete-run') and start a new run`,
      );
    return record;
  }

  /**
   * Writes a checkpoint (trainer_state.json last), then deletes all but the newest `keep` complete
   * checkpoints up to it, any interrupted one, and any of later steps (left by the steps a run resumed
   * from an earlier checkpoint has now taken again). Returns the checkpoint's path and the steps deleted.
   */
  async saveCheckpoint(
    id: string,
    step: number,
    files: Record<string, Uint8Array>,
    keep = KEEP_CHECKPOINTS,
  ): Promise<{ path: string; removed: number[] }> {
    const run = await this.runDir(id);
    const name = `checkpoint-${step}`;
    await remove(run, name);
    const dir = await run.getDirectoryHandle(name, { create: true });
    const names = Object.keys(files).sort(
      (a, b) => Number(a === TRAINER_STATE_FILE) - Number(b === TRAINER_STATE_FILE),
    );
    for (const n of names) await writeFile(dir, n, files[n]!);
    const removed: number[] = [];
    const complete = (await this.checkpoints(id)).map((c) => c.step);
    const kept = new Set(complete.filter((s) => s <= step).slice(-keep));
    for (const e of await entries(run)) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (e.kind !== 'directory' || !m || kept.has(Number(m[1]))) continue;
      await remove(run, e.name);
      if (complete.includes(Number(m[1]))) removed.push(Number(m[1]));
    }
    return { path: checkpointPath(id, step), removed: removed.sort((a, b) => a - b) };
  }

  /** The run's complete checkpoints, oldest first. */
  async checkpoints(id: string): Promise<StoredCheckpoint[]> {
    const run = await this.runDir(id);
    const out: StoredCheckpoint[] = [];
    for (const e of await entries(run)) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (e.kind !== 'directory' || !m) continue;
      const files = (await entries(e)).filter((f): f is StoreFile => f.kind === 'file');
      if (!files.some((f) => f.name === TRAINER_STATE_FILE)) continue;
      let bytes = 0;
      for (const f of files) bytes += (await f.getFile()).size;
      const step = Number(m[1]);
      out.push({ step, path: checkpointPath(id, step), files: files.map((f) => f.name).sort(), bytes });
    }
    return out.sort((a, b) => a.step - b.step);
  }

  /** One file of a complete checkpoint; undefined when the checkpoint lacks it. */
  async readCheckpointFile(id: string, step: number, name: string): Promise<Uint8Array | undefined> {
    const dir = await child(await this.runDir(id), `checkpoint-${step}`);
    return dir && readBytes(dir, name);
  }

  /**
   * The checkpoint to resume from: `step`, or the newest. RunStoreError when the run has none, or not
   * that one.
   */
  async resumeStep(id: string, step?: number): Promise<number> {
    const steps = (await this.checkpoints(id)).map((c) => c.step);
    if (steps.length === 0)
      throw new RunStoreError(
        `run '${id}' has no complete checkpoint to resume from (it saves one every save_steps, at the end ` +
          'and when stopped); start a new run',
      );
    if (step === undefined) return steps.at(-1)!;
    if (!steps.includes(step))
      throw new RunStoreError(
        `run '${id}' has no checkpoint-${step}; it keeps the last ${KEEP_CHECKPOINTS}: ${steps.join(', ')}`,
      );
    return step;
  }

  async appendMetrics(id: string, line: MetricsLine): Promise<void> {
    await writeFile(await this.runDir(id), METRICS_FILE, `${JSON.stringify(line)}\n`, true);
  }

  async appendEval(id: string, line: EvalLine): Promise<void> {
    await writeFile(await this.runDir(id), EVAL_FILE, `${JSON.stringify(line)}\n`, true);
  }

  /** metrics.jsonl ('' before the first logged step). */
  async readMetrics(id: string): Promise<string> {
    return (await readText(await this.runDir(id), METRICS_FILE)) ?? '';
  }

  /** The logged metrics and held-out evaluations of steps up to `step`, oldest first. */
  async history(id: string, step: number): Promise<{ metrics: MetricsLine[]; evals: EvalLine[] }> {
    const dir = await this.runDir(id);
    const parse = <T extends { step: number }>(text: string | undefined) =>
      lines(text ?? '')
        .map((l) => JSON.parse(l) as T)
        .filter((l) => l.step <= step);
    return {
      metrics: parse<MetricsLine>(await readText(dir, METRICS_FILE)),
      evals: parse<EvalLine>(await readText(dir, EVAL_FILE)),
    };
  }

  /** Drops the metrics lines of steps after `step` (a resumed run takes them again). */
  async truncateMetrics(id: string, step: number): Promise<void> {
    const dir = await this.runDir(id);
    const text = await readText(dir, METRICS_FILE);
    if (text === undefined) return;
    const kept = lines(text).filter((l) => (JSON.parse(l) as MetricsLine).step <= step);
    if (kept.length !== lines(text).length)
      await writeFile(dir, METRICS_FILE, kept.map((l) => `${l}\n`).join(''));
  }

  /** Every stored run with a readable run.json, oldest first. */
  async list(): Promise<StoredRun[]> {
    const runs = await this.runs();
    if (!runs) return [];
    const out: StoredRun[] = [];
    for (const e of await entries(runs)) {
      if (e.kind !== 'directory') continue;
      let record: RunRecord;
      try {
        record = await this.readRun(e.name);
      } catch (error) {
        if (error instanceof RunStoreError) continue;
        throw error;
      }
      const last = lines(await this.readMetrics(e.name)).at(-1);
      out.push({
        ...record,
        checkpoints: await this.checkpoints(e.name),
        lastMetrics: last === undefined ? null : (JSON.parse(last) as MetricsLine),
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Deletes the run's folder and everything in it. */
  async deleteRun(id: string): Promise<void> {
    await this.runDir(id);
    await remove((await this.runs())!, id);
  }
}
