// What `vgrpo train`, `sft` and `eval` share: the run's config (a JSON / YAML file, a preset, flag
// overrides; the nano demo preset by default on nano), the model folder loaded onto the GPU with its
// tokenizer and image processor, the box space its answers use, the rows of a dataset (the synthetic set
// or any dataset form inspect-dataset reads), and a progress line for long work on stderr.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toGroundingRows } from '../data/dataset.ts';
import { DatasetFormatError } from '../data/errors.ts';
import { openDatasetAt } from '../data/open-dataset-node.ts';
import type { GroundingRow } from '../data/row.ts';
import { NANO_TASK, syntheticDataset } from '../data/synthetic.ts';
import type { Gpu } from '../gpu/context.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, withAdapterSettings } from '../grpo/adapter.ts';
import { type GrpoConfig, GrpoConfigError, PRESETS, resolveConfig } from '../grpo/config.ts';
import { parseConfigText } from '../grpo/config-file.ts';
import type { EvalSettings } from '../grpo/eval.ts';
import type { BoxSpace } from '../grpo/rewards/answer.ts';
import { declaredBoxSpace, type ModelKind, resolveBoxSpace } from '../grpo/rewards/box-space.ts';
import { rewardNames } from '../grpo/rewards/rewards.ts';
import { resolveWeightDtype } from '../grpo/weight-dtype.ts';
import { directoryOpener } from '../model/byte-source-node.ts';
import { loadModel } from '../model/load.ts';
import type { PeftAdapterInput } from '../model/lora.ts';
import { type PromptModel, stopTokenIds } from '../model/prompt.ts';
import type { Weights } from '../model/weights.ts';
import { CliError, type FlagSpec, type FlagValues } from './command.ts';
import {
  ambiguityMessage,
  DATASET_FLAGS,
  DATASET_USAGE,
  datasetCliError,
  datasetOptions,
} from './dataset-flags.ts';
import { loadPromptModel, modelDir, positiveIntArg, readJsonFile } from './model-input.ts';

export const RUN_FLAGS: FlagSpec = {
  model: { type: 'string' },
  dataset: { type: 'string' },
  config: { type: 'string' },
  preset: { type: 'string' },
  'max-steps': { type: 'string' },
  'synthetic-seed': { type: 'string' },
  'synthetic-rows': { type: 'string' },
  adapter: { type: 'string' },
  ...DATASET_FLAGS,
};

export const RUN_USAGE = `  --model nano|DIR      the checkpoint: the built-in nano (default) or an HF Qwen2-VL / Qwen2.5-VL folder
  --dataset synthetic|PATH
                        the built-in synthetic grounding set (default) or a dataset in any form
                        'vgrpo inspect-dataset' reads
  --config FILE         training settings as JSON or YAML with TRL's GRPOConfig names
  --preset NAME         ${Object.keys(PRESETS).join(' | ')} (default nano-demo on nano)
  --max-steps N         overrides max_steps
  --synthetic-seed N    the synthetic set's seed (default 1)
  --synthetic-rows N    its size (default 2000)
  --adapter DIR         a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) on
                        the model; by default the one beside the weights in the --model folder, if any
${DATASET_USAGE}`;

const str = (values: FlagValues, k: string) => values[k] as string | undefined;

/** The run's config: defaults <- preset <- config file <- --max-steps. */
export async function runConfig(
  values: FlagValues,
  extra: Record<string, unknown> = {},
): Promise<GrpoConfig> {
  const model = str(values, 'model') ?? 'nano';
  const preset = str(values, 'preset') ?? (model === 'nano' ? 'nano-demo' : undefined);
  if (preset !== undefined && !(preset in PRESETS))
    throw new CliError(`--preset must be one of ${Object.keys(PRESETS).join(', ')} (got '${preset}')`, 2);
  const options = { knownRewards: rewardNames(), ...(preset === undefined ? {} : { preset }) };
  const file = str(values, 'config');
  const maxSteps = positiveIntArg(str(values, 'max-steps'), '--max-steps');
  const overrides = { ...extra, ...(maxSteps === undefined ? {} : { max_steps: maxSteps }) };
  if (file === undefined) return resolveConfig(overrides, options);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read the config file ${file}: ${(e as Error).message}`);
  }
  const fromFile = parseConfigText(text, file, options);
  return Object.keys(overrides).length ? resolveConfig({ ...fromFile, ...overrides }, options) : fromFile;
}

export interface RunModel {
  name: string;
  prompt: PromptModel;
  weights: Weights;
  kind: ModelKind;
  space: BoxSpace;
  stopIds: number[];
}

/** Loads the --model folder with the weight storage the config allows. */
export async function loadRunModel(gpu: Gpu, values: FlagValues, config: GrpoConfig): Promise<RunModel> {
  const name = str(values, 'model') ?? 'nano';
  const prompt = await loadPromptModel(name);
  const loaded = await loadModel(gpu, directoryOpener(modelDir(name)), {
    weightDtype: resolveWeightDtype(config, gpu.hasF16),
  });
  const kind: ModelKind = name === 'nano' ? 'nano' : prompt.config.modelType;
  const declared = declaredBoxSpace(await readJsonFile(modelDir(name), 'config.json', true));
  return {
    name,
    prompt,
    weights: loaded.weights,
    kind,
    space: resolveBoxSpace(config.box_space, kind, declared),
    stopIds: stopTokenIds(prompt.tokenizer, prompt.config.tokens.eosTokenIds),
  };
}

/** The PEFT adapter on the model: --adapter DIR, else one beside the weights in the --model folder. */
export async function readRunAdapter(values: FlagValues): Promise<PeftAdapterInput | undefined> {
  const named = str(values, 'adapter');
  const dir = named ?? modelDir(str(values, 'model') ?? 'nano');
  const read = async (name: string) => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT')
        throw new CliError(`cannot read ${join(dir, name)}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const config = await read(ADAPTER_CONFIG);
  const weights = await read(ADAPTER_WEIGHTS);
  if (!config && !weights && named === undefined) return undefined;
  if (!config || !weights)
    throw new CliError(
      `${named === undefined ? `the model folder ${dir}` : `--adapter ${dir}`} has ${config || weights ? 'only one of' : 'no'} ` +
        `${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}; give a PEFT adapter folder with both`,
    );
  return { [ADAPTER_CONFIG]: config.toString('utf8'), [ADAPTER_WEIGHTS]: new Uint8Array(weights) };
}

/** The adapter a new run trains further, if any, and the config with its LoRA settings. */
export async function runAdapterConfig(
  values: FlagValues,
  config: GrpoConfig,
): Promise<{ config: GrpoConfig; adapter?: PeftAdapterInput }> {
  const adapter = await readRunAdapter(values);
  if (!adapter) return { config };
  const warn = (message: string) => process.stderr.write(`note: ${message}\n`);
  try {
    return { config: withAdapterSettings(config, adapter[ADAPTER_CONFIG], warn), adapter };
  } catch (e) {
    return configError(e);
  }
}

/** Greedy evaluation as the run's config and model have it: completion length, prompt, pixels, box space. */
export function runEvalSettings(config: GrpoConfig, model: RunModel): EvalSettings {
  return {
    space: model.space,
    maxCompletionLength: config.max_completion_length,
    stopIds: model.stopIds,
    systemPrompt: config.system_prompt,
    prefill: config.assistant_prefill,
    minPixels: config.min_pixels,
    maxPixels: config.max_pixels,
  };
}

/** The rows of --dataset: the synthetic set (seeded) or an opened dataset's usable rows. */
export async function loadRunRows(
  values: FlagValues,
  defaults: { seed: number; rows: number } = { seed: 1, rows: 2000 },
): Promise<{ rows: GroundingRow[]; name: string }> {
  const dataset = str(values, 'dataset') ?? 'synthetic';
  if (dataset === 'synthetic') {
    const seed = Number(str(values, 'synthetic-seed') ?? defaults.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new CliError(`--synthetic-seed must be an integer in [0, 4294967295]`, 2);
    const count = positiveIntArg(str(values, 'synthetic-rows'), '--synthetic-rows') ?? defaults.rows;
    return { rows: syntheticDataset(seed, count, NANO_TASK), name: `synthetic:${seed}:${count}` };
  }
  const options = datasetOptions(values);
  try {
    const opened = await openDatasetAt(dataset, options);
    const ambiguity = ambiguityMessage(opened.report);
    if (ambiguity !== undefined) throw new CliError(ambiguity);
    const rows = toGroundingRows(opened);
    if (rows.length === 0)
      throw new CliError(`${dataset} has no usable rows; 'vgrpo inspect-dataset ${dataset}' lists why`);
    return { rows, name: dataset };
  } catch (e) {
    if (e instanceof DatasetFormatError) throw datasetCliError(e);
    throw e;
  }
}

/** A GrpoConfigError as a CLI message naming the field. */
export function configError(e: unknown): never {
  if (e instanceof GrpoConfigError) throw new CliError(`config: ${e.message}`);
  throw e;
}

/** A one-line progress report on stderr: redrawn in place on a terminal, every `every` calls otherwise. */
export class ProgressLine {
  private started = performance.now();
  private calls = 0;
  constructor(
    private readonly what: string,
    private readonly total: number,
    private readonly every = 10,
  ) {}

  update(done: number, tail = ''): void {
    this.calls++;
    const tty = process.stderr.isTTY === true;
    if (!tty && done !== this.total && this.calls % this.every !== 0) return;
    const frac = this.total > 0 ? done / this.total : 1;
    const width = 20;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-');
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : Number.NaN;
    const line = `${this.what} ${done}/${this.total} [${bar}] ${(frac * 100).toFixed(0)}% ${formatSeconds(elapsed)} elapsed, ETA ${formatSeconds(eta)}${tail ? `  ${tail}` : ''}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${done === this.total ? '\n' : ''}` : `${line}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
