// A TRL run brought back: the output folder of an exported job's train.py (or any GRPOTrainer run) read
// into our metrics lines, per-sample records and PEFT adapter, so the charts and the inspector work on
// runs made elsewhere. Reads trainer_state.json (log_history holds TRL's metrics under our names), the
// completions tables TRL writes with log_completions (completions/completions_STEP.parquet: prompt,
// completion, one column per reward, advantage, and the row id train.py logs beside them) and the
// adapter beside the state. With the job's job.json and data/ in the drop, each completion is shown on
// its row's image against the ground truth, its box read and its IoU computed by our own parser.
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { basename, type DroppedFile, type DroppedFiles, dirname } from '../../data/files/files.ts';
import type { Box } from '../../data/row.ts';
import type { PeftAdapterInput } from '../../model/lora.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../adapter.ts';
import { type GrpoConfig, GrpoConfigError, resolveConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import {
  BOX_SPACES,
  type BoxSpace,
  type ImageFrame,
  iou,
  parseAnswer,
  toOriginalPixels,
} from '../rewards/answer.ts';
import type { CompletionRecord, SampleRecord } from '../trainer.ts';

/** A TRL output folder that cannot be read; the message says what to drop or run instead. */
export class TrlImportError extends Error {
  override name = 'TrlImportError';
}

/** One row of the job's data/train.jsonl, with its image file when the drop holds it. */
export interface TrlJobRow {
  id: string;
  question: string;
  box: Box;
  frame: ImageFrame;
  image: DroppedFile | null;
}

export interface ImportedTrlRun {
  /** The trainer_state.json read, as a path in the drop. */
  statePath: string;
  /** Optimiser steps TRL took, and the run's planned total. */
  step: number;
  maxSteps: number;
  /** One line per logged step, under TRL's (and our) metric names. */
  metrics: ({ step: number } & Metrics)[];
  /** Every logged generation's prompts with their completions (empty without the job's rows). */
  records: SampleRecord[];
  /** The rows by id, for their images. */
  rows: ReadonlyMap<string, TrlJobRow>;
  /** The LoRA adapter beside the state, and where it was found. */
  adapter: (PeftAdapterInput & { path: string }) | null;
  /** The run's settings as ours: job.json's, else the defaults with the rewards TRL logged. */
  config: GrpoConfig;
  /** The job.json the run was exported with, and its path in the drop, when the drop holds it. */
  job: Record<string, unknown> | null;
  jobPath: string | null;
  /** What could not be brought back, and why. */
  warnings: string[];
}

const STATE = 'trainer_state.json';
const CHECKPOINT = /^checkpoint-(\d+)$/;
const COMPLETIONS = /^completions_(\d+)\.parquet$/;
/** Columns of TRL's completions table that are not rewards. */
const NOT_REWARDS = new Set(['step', 'prompt', 'completion', 'advantage', 'id', 'image']);

interface TrainerState {
  global_step: number;
  max_steps: number;
  log_history: Record<string, unknown>[];
}

const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function readJson(file: DroppedFile, what: string): Promise<unknown> {
  try {
    return JSON.parse(decode(await file.read()));
  } catch (e) {
    throw new TrlImportError(
      `${file.path} is not valid JSON (${(e as Error).message}): it is not ${what} or it is damaged; copy the folder again`,
    );
  }
}

function readState(raw: unknown, path: string): TrainerState {
  const s = raw as Partial<TrainerState> | null;
  if (
    !s ||
    typeof s !== 'object' ||
    typeof s.global_step !== 'number' ||
    !Array.isArray(s.log_history) ||
    !s.log_history.every((e) => e !== null && typeof e === 'object')
  )
    throw new TrlImportError(
      `${path} is not a transformers trainer state (no global_step and log_history): drop the output folder of a TRL run`,
    );
  return {
    global_step: s.global_step,
    max_steps: typeof s.max_steps === 'number' ? s.max_steps : 0,
    log_history: s.log_history,
  };
}

/** The state to read: the furthest one, the top-level copy (save_state) before a checkpoint's. */
async function findState(files: DroppedFiles): Promise<{ file: DroppedFile; state: TrainerState }> {
  const found = files.filter((f) => basename(f.path) === STATE);
  if (found.length === 0)
    throw new TrlImportError(
      `the drop holds no ${STATE}: drop a TRL run's output folder (the train.py of an exported job writes ` +
        'job/output/), or one of its checkpoint-STEP folders',
    );
  let best: { file: DroppedFile; state: TrainerState } | null = null;
  for (const file of found) {
    const state = readState(await readJson(file, 'a trainer state'), file.path);
    const depth = file.path.split('/').length;
    if (
      !best ||
      state.global_step > best.state.global_step ||
      (state.global_step === best.state.global_step && depth < best.file.path.split('/').length)
    )
      best = { file, state };
  }
  return best!;
}

/** TRL's log_history as metrics lines: the end-of-training summary left out. */
export function metricsOfLogHistory(
  history: readonly Record<string, unknown>[],
): ({ step: number } & Metrics)[] {
  const lines: ({ step: number } & Metrics)[] = [];
  for (const entry of history) {
    if ('train_runtime' in entry || typeof entry.step !== 'number') continue;
    const line: { step: number } & Metrics = { step: entry.step };
    for (const [k, v] of Object.entries(entry))
      if (k !== 'step' && (typeof v === 'number' || v === null)) line[k] = v;
    lines.push(line);
  }
  return lines;
}

function readRows(text: string, path: string, files: DroppedFiles, dataDir: string): Map<string, TrlJobRow> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const rows = new Map<string, TrlJobRow>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new TrlImportError(
        `${path} line ${i + 1} is not JSON: the job's data is damaged; export the job again`,
      );
    }
    const box = r.box;
    const nums = [r.width, r.height, r.input_width, r.input_height];
    if (
      typeof r.id !== 'string' ||
      !Array.isArray(box) ||
      box.length !== 4 ||
      !box.every((v) => typeof v === 'number') ||
      !nums.every((v) => typeof v === 'number' && v > 0)
    )
      throw new TrlImportError(
        `${path} line ${i + 1} lacks id, box, width, height, input_width or input_height: it was not written by ` +
          'vgrpo export-trl; export the job again',
      );
    const image = typeof r.image === 'string' ? (byPath.get(join(dataDir, r.image)) ?? null) : null;
    rows.set(r.id, {
      id: r.id,
      question: typeof r.question === 'string' ? r.question : '',
      box: box as unknown as Box,
      frame: {
        width: r.width as number,
        height: r.height as number,
        inputWidth: r.input_width as number,
        inputHeight: r.input_height as number,
      },
      image,
    });
  });
  return rows;
}

/** The job.json of the run and its rows: in the output folder's parent (the job folder), or in the output folder. */
async function findJob(
  files: DroppedFiles,
  root: string,
  warnings: string[],
): Promise<{ job: Record<string, unknown>; path: string; rows: Map<string, TrlJobRow> } | null> {
  const candidates = root ? [dirname(root), root] : [''];
  for (const dir of candidates) {
    const file = files.find((f) => f.path === join(dir, 'job.json'));
    if (!file) continue;
    const job = (await readJson(file, "an exported job's job.json")) as Record<string, unknown>;
    const dataPath = join(dir, 'data/train.jsonl');
    const data = files.find((f) => f.path === dataPath);
    if (!data) {
      warnings.push(
        `${dataPath} is missing, so completions cannot be shown on their images: drop the whole job folder`,
      );
      return null;
    }
    return {
      job,
      path: file.path,
      rows: readRows(decode(await data.read()), dataPath, files, join(dir, 'data')),
    };
  }
  warnings.push(
    "no job.json beside the output folder, so completions cannot be shown on their images: drop the exported job's " +
      'folder (job.json, data/ and output/) rather than output/ alone',
  );
  return null;
}

type TableRow = Record<string, unknown>;

async function readTable(file: DroppedFile): Promise<TableRow[]> {
  const bytes = await file.read();
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    return (await parquetReadObjects({ file: buffer, compressors })) as TableRow[];
  } catch (e) {
    throw new TrlImportError(
      `${file.path} cannot be read as Parquet (${(e as Error).message}): it is damaged; copy the output folder again`,
    );
  }
}

const num = (v: unknown): number | null => {
  const n = typeof v === 'bigint' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
};

/** TRL decodes without special tokens, so a Qwen2-VL answer's <|box_start|> / <|box_end|> are gone: put them back. */
export function restoreBoxMarkers(text: string): string {
  const start = text.indexOf('<answer>');
  const end = text.indexOf('</answer>', start);
  if (start < 0 || end < 0) return text;
  const answer = text.slice(start + '<answer>'.length, end);
  if (answer.includes('<|box_start|>') || !/^\s*\([^()]*\)\s*,\s*\([^()]*\)\s*$/.test(answer)) return text;
  return `${text.slice(0, start)}<answer><|box_start|>${answer}<|box_end|>${text.slice(end)}`;
}

interface RecordSettings {
  names: string[];
  weights: number[];
  space: BoxSpace;
  qwen2vl: boolean;
}

function completionRecord(row: TableRow, job: TrlJobRow, s: RecordSettings): CompletionRecord {
  const text = String(row.completion ?? '');
  const parsed = parseAnswer(s.qwen2vl ? restoreBoxMarkers(text) : text);
  const boxPixels = parsed.box ? toOriginalPixels(parsed.box, s.space, job.frame) : null;
  const rewards = Object.fromEntries(s.names.map((n) => [n, num(row[n])]));
  const scored = s.names.map((n, i) => (rewards[n] === null ? null : rewards[n]! * s.weights[i]!));
  return {
    text,
    tokens: null,
    terminated: null,
    box: parsed.box,
    boxPixels,
    parseError: parsed.error ?? null,
    iou: boxPixels ? iou(boxPixels, job.box) : null,
    rewards,
    reward: scored.every((v) => v === null) ? null : scored.reduce<number>((a, v) => a + (v ?? 0), 0),
    advantage: num(row.advantage) ?? 0,
  };
}

/** One table's completions as records: consecutive rows of the same id are one prompt's group. */
function tableRecords(
  table: TableRow[],
  step: number,
  rows: ReadonlyMap<string, TrlJobRow>,
  s: RecordSettings,
) {
  const records: SampleRecord[] = [];
  const unknown = new Set<string>();
  let current: { row: TrlJobRow; record: SampleRecord } | null = null;
  let currentId: unknown;
  for (const r of table) {
    if (r.id !== currentId || current === null) {
      currentId = r.id;
      const row = typeof r.id === 'string' ? rows.get(r.id) : undefined;
      if (!row) {
        unknown.add(String(r.id));
        current = null;
        continue;
      }
      const { id, question, box, frame } = row;
      current = { row, record: { step, id, question, box, frame, completions: [] } };
      records.push(current.record);
    }
    current.record.completions.push(completionRecord(r, current.row, s));
  }
  return { records, unknown };
}

function recordSettings(job: Record<string, unknown>, columns: string[]): RecordSettings {
  const listed = Array.isArray(job.reward_funcs) ? (job.reward_funcs as unknown[]).map(String) : [];
  const names = listed.length ? listed : columns.filter((c) => !NOT_REWARDS.has(c));
  const config = (job.grpo_config ?? {}) as Record<string, unknown>;
  const w = Array.isArray(config.reward_weights) ? (config.reward_weights as unknown[]).map(Number) : null;
  const space = BOX_SPACES.includes(job.box_space as BoxSpace) ? (job.box_space as BoxSpace) : 'pixels';
  return { names, weights: names.map((_, i) => w?.[i] ?? 1), space, qwen2vl: job.answer_form === 'qwen2vl' };
}

/** The settings of an exported job (job.json) as our configuration; without one, the defaults with `rewards`. */
export function jobConfig(job: Record<string, unknown> | null, rewards: string[]): GrpoConfig {
  if (!job) return resolveConfig(rewards.length ? { reward_funcs: rewards } : {});
  const { eval_strategy: _, ...trl } = (job.grpo_config ?? {}) as Record<string, unknown>;
  const lora = job.lora as Record<string, unknown> | null;
  try {
    return resolveConfig({
      ...trl,
      reward_funcs: job.reward_funcs,
      iou_threshold: job.iou_threshold,
      system_prompt: job.system_prompt,
      assistant_prefill: job.prefill,
      box_space: job.box_space,
      answer_form: job.answer_form,
      min_pixels: job.min_pixels,
      max_pixels: job.max_pixels,
      use_peft: lora !== null && lora !== undefined,
      ...(lora
        ? {
            lora_r: lora.r,
            lora_alpha: lora.lora_alpha,
            lora_dropout: lora.lora_dropout,
            lora_target_modules: lora.target_modules,
          }
        : {}),
    });
  } catch (e) {
    if (e instanceof GrpoConfigError)
      throw new TrlImportError(
        `job.json's settings are not ones this version reads (${e.message}): export the job again`,
      );
    throw e;
  }
}

/** Reads a dropped TRL run: `files` hold its output folder, or the exported job folder around it. */
export async function importTrlRun(files: DroppedFiles): Promise<ImportedTrlRun> {
  const warnings: string[] = [];
  const { file: stateFile, state } = await findState(files);
  const stateDir = dirname(stateFile.path);
  const root = CHECKPOINT.test(basename(stateDir)) ? dirname(stateDir) : stateDir;

  let adapter: ImportedTrlRun['adapter'] = null;
  for (const dir of [stateDir, root]) {
    const config = files.find((f) => f.path === join(dir, ADAPTER_CONFIG));
    const weights = files.find((f) => f.path === join(dir, ADAPTER_WEIGHTS));
    if (!config || !weights) continue;
    adapter = {
      path: dir,
      [ADAPTER_CONFIG]: await readJson(config, "a PEFT adapter's config"),
      [ADAPTER_WEIGHTS]: await weights.read(),
    };
    break;
  }
  if (!adapter)
    warnings.push(
      `no ${ADAPTER_CONFIG} with ${ADAPTER_WEIGHTS} beside ${stateFile.path}: the run trained without LoRA ` +
        '(its full weights are a model folder to open as the model instead) or the folder is incomplete',
    );

  const tables = files
    .filter((f) => dirname(f.path) === join(root, 'completions') && COMPLETIONS.test(basename(f.path)))
    .map((f) => ({ file: f, step: Number(COMPLETIONS.exec(basename(f.path))![1]) }))
    .sort((a, b) => a.step - b.step);
  const found = await findJob(files, root, warnings);
  const records: SampleRecord[] = [];
  if (tables.length === 0)
    warnings.push(
      `no completions tables in ${join(root, 'completions')}/: TRL writes them with log_completions (train.py ` +
        'of an exported job turns it on); metrics and the adapter are imported without samples',
    );
  else if (found) {
    let previous = '';
    const unknown = new Set<string>();
    for (const { file, step } of tables) {
      const table = await readTable(file);
      // With several optimiser steps per generation, each logging step writes the same generation again.
      const signature = JSON.stringify(table.map((r) => [r.id, r.completion, num(r.advantage)]));
      if (signature === previous) continue;
      previous = signature;
      const columns = table.length ? Object.keys(table[0]!) : [];
      if (table.length && !columns.includes('id')) {
        warnings.push(
          `${file.path} has no id column, so its completions cannot be matched with their rows: ` +
            "the run was not made by an exported job's train.py",
        );
        continue;
      }
      const got = tableRecords(table, step, found.rows, recordSettings(found.job, columns));
      records.push(...got.records);
      for (const id of got.unknown) unknown.add(id);
    }
    if (unknown.size)
      warnings.push(
        `${unknown.size} row id(s) of the completions are not in the job's data (${[...unknown].slice(0, 3).join(', ')}): ` +
          'their completions are left out; drop the job folder the run was made from',
      );
  }
  const metrics = metricsOfLogHistory(state.log_history);
  const logged = new Set(metrics.flatMap((m) => Object.keys(m)));
  const rewards = [...logged].flatMap((k) => /^rewards\/(.+)\/mean$/.exec(k)?.[1] ?? []);
  return {
    statePath: stateFile.path,
    step: state.global_step,
    maxSteps: state.max_steps,
    metrics,
    records,
    rows: found?.rows ?? new Map(),
    adapter,
    config: jobConfig(found?.job ?? null, rewards),
    job: found?.job ?? null,
    jobPath: found?.path ?? null,
    warnings,
  };
}
