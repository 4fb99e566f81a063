// Training checkpoints as a set of named files (written to a folder by the CLI, to OPFS by the worker):
// the trainable parameters (a LoRA adapter in PEFT's layout, or every weight in HF's), AdamW's moments
// (optimizer.safetensors: `<param>.exp_avg` / `<param>.exp_avg_sq`, f32), and trainer_state.json with
// the step, TRL's counters, the data order and the run's config. Restoring puts all of it back, so the
// next step is the one the run would have taken.
import { bytesSource } from '../model/byte-source.ts';
import { peftTensorName } from '../model/lora.ts';
import { openSafetensors } from '../model/safetensors.ts';
import { type TensorToWrite, writeSafetensors } from '../model/safetensors-write.ts';
import { configToJson } from './config.ts';
import { mergedWeightsFile } from './export.ts';
import type { GrpoTrainer, TrainerProgress } from './trainer.ts';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const WEIGHTS_FILE = 'model.safetensors';

/** What a run records about itself besides the trainer's progress (model and data references). */
export interface RunInfo {
  model: string;
  dataset: string;
  [key: string]: unknown;
}

export interface TrainerState {
  format: 'vision-grpo-checkpoint';
  version: 1;
  progress: TrainerProgress;
  /** AdamW's update count per parameter. */
  optimizer_steps: Record<string, number>;
  config: Record<string, unknown>;
  run: RunInfo;
}

/** A checkpoint that cannot be restored onto this run; the message says why. */
export class CheckpointStateError extends Error {
  override name = 'CheckpointStateError';
}

export type CheckpointFiles = Record<string, Uint8Array>;

/** The files of a checkpoint of `trainer` at its current step. */
export async function saveCheckpoint(trainer: GrpoTrainer, run: RunInfo): Promise<CheckpointFiles> {
  const gpu = trainer.setup.gpu;
  const params = trainer.policy.parameters;
  const files: CheckpointFiles = {};
  const lora = trainer.policy.lora;
  if (lora) {
    const peft = await lora.exportPeft({ baseModelNameOrPath: run.model });
    files['adapter_config.json'] = new TextEncoder().encode(
      `${JSON.stringify(peft['adapter_config.json'], null, 2)}\n`,
    );
    files['adapter_model.safetensors'] = peft['adapter_model.safetensors'];
  } else {
    files[WEIGHTS_FILE] = await mergedWeightsFile(gpu, trainer.policy.weights, undefined);
  }
  const moments: TensorToWrite[] = [];
  const steps: Record<string, number> = {};
  for (const p of params) {
    const s = await trainer.updater.optimizer.readState(gpu, p.tensor);
    if (!s) continue;
    steps[p.name] = s.step;
    moments.push({ name: `${p.name}.exp_avg`, dtype: 'F32', shape: [...p.tensor.shape], data: s.m });
    moments.push({ name: `${p.name}.exp_avg_sq`, dtype: 'F32', shape: [...p.tensor.shape], data: s.v });
  }
  files[OPTIMIZER_FILE] = writeSafetensors(moments, { format: 'pt' });
  const state: TrainerState = {
    format: 'vision-grpo-checkpoint',
    version: 1,
    progress: trainer.progress(),
    optimizer_steps: steps,
    config: configToJson(trainer.setup.config),
    run,
  };
  files[TRAINER_STATE_FILE] = new TextEncoder().encode(`${JSON.stringify(state, null, 1)}\n`);
  return files;
}

/** Reads trainer_state.json of a checkpoint; CheckpointStateError when it is missing or not ours. */
export function readTrainerState(bytes: Uint8Array | undefined): TrainerState {
  if (!bytes)
    throw new CheckpointStateError(
      `the checkpoint has no ${TRAINER_STATE_FILE}; choose a checkpoint-STEP folder of a run`,
    );
  let state: TrainerState;
  try {
    state = JSON.parse(new TextDecoder().decode(bytes)) as TrainerState;
  } catch {
    throw new CheckpointStateError(`${TRAINER_STATE_FILE} is not valid JSON; the checkpoint is damaged`);
  }
  if (state?.format !== 'vision-grpo-checkpoint' || state.version !== 1)
    throw new CheckpointStateError(`${TRAINER_STATE_FILE} is not a vision-grpo checkpoint (version 1)`);
  return state;
}

/** PEFT's tensor name of a LoRA parameter (`<module>.lora_A.weight`), as exportPeft writes it. */
function peftName(parameter: string): string {
  const m = /^(.+)\.lora_([AB])\.weight$/.exec(parameter);
  if (!m) throw new CheckpointStateError(`'${parameter}' is not a LoRA parameter name`);
  return peftTensorName(m[1]!, m[2] as 'A' | 'B');
}

/**
 * Puts a checkpoint's parameters, optimiser moments and progress back into `trainer`, which must have
 * been built with the same model, dataset and config (the config is compared field by field).
 */
export async function restoreCheckpoint(
  trainer: GrpoTrainer,
  read: (name: string) => Promise<Uint8Array | undefined>,
): Promise<TrainerState> {
  const gpu = trainer.setup.gpu;
  const state = readTrainerState(await read(TRAINER_STATE_FILE));
  const now = configToJson(trainer.setup.config);
  const differs = Object.keys(now).filter(
    (k) => k !== 'max_steps' && JSON.stringify(now[k]) !== JSON.stringify(state.config[k]),
  );
  if (differs.length)
    throw new CheckpointStateError(
      `the checkpoint was trained with other settings (${differs.slice(0, 4).join(', ')}); resume with the run's own config`,
    );
  const paramsFile = trainer.policy.lora ? 'adapter_model.safetensors' : WEIGHTS_FILE;
  const paramBytes = await read(paramsFile);
  const optBytes = await read(OPTIMIZER_FILE);
  if (!paramBytes || !optBytes)
    throw new CheckpointStateError(`the checkpoint lacks ${paramBytes ? OPTIMIZER_FILE : paramsFile}`);
  const weights = await openSafetensors(bytesSource(paramBytes, paramsFile));
  const moments = await openSafetensors(bytesSource(optBytes, OPTIMIZER_FILE));
  const stored = new Set(weights.tensors.map((t) => t.name));
  for (const p of trainer.policy.parameters) {
    const name = trainer.policy.lora ? peftName(p.name) : p.name;
    if (!stored.has(name))
      throw new CheckpointStateError(
        `the checkpoint has no '${name}'; it belongs to another model or adapter`,
      );
    gpu.write(p.tensor, await weights.readF32(name));
    const step = state.optimizer_steps[p.name];
    if (step !== undefined)
      trainer.updater.optimizer.loadState(gpu, p.tensor, {
        m: await moments.readF32(`${p.name}.exp_avg`),
        v: await moments.readF32(`${p.name}.exp_avg_sq`),
        step,
      });
  }
  trainer.restoreProgress(state.progress);
  await gpu.sync();
  return state;
}
