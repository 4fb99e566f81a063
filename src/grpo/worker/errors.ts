// The worker's errors as the app receives them: each error class mapped to a kind, whether starting
// again can succeed, and, for the GPU giving up (out of memory, device lost), which settings to lower,
// with the run's current values, and where the run's last checkpoint is kept.
import { DataOptionsError, DatasetFormatError, ImageDecodeError } from '../../data/errors.ts';
import { DeviceLostError, formatBytes, NoAdapterError, OutOfMemoryError } from '../../gpu/errors.ts';
import {
  ChatTemplateError,
  CheckpointError,
  ConfigError,
  ImageProcessorError,
  LoraError,
  SafetensorsError,
  TensorMismatchError,
  TokenizerFileError,
  UnsupportedTokenizerError,
} from '../../model/errors.ts';
import type { WeightDtype } from '../../model/load.ts';
import { CheckpointStateError } from '../checkpoint.ts';
import { type GrpoConfig, GrpoConfigError } from '../config.ts';
import { ExportError } from '../export.ts';
import type { ErrorEvent } from './protocol.ts';
import { RunStoreError } from './run-store.ts';

/** A request that does not fit the worker's state or is malformed; the message says what to send. */
export class RequestError extends Error {
  override name = 'RequestError';
}

/** What the run had got to when the error came. */
export interface RunContext {
  /** The resolved configuration, once it is. */
  config?: GrpoConfig;
  /** The step being taken (1-based) and the run's total, once training. */
  step?: number;
  totalSteps?: number;
  weightDtype?: WeightDtype;
  /** Whether the adapter has shader-f16 (so f16 weights are possible). */
  hasF16?: boolean;
  /** Where the run saves (absent without OPFS) and its last complete checkpoint. */
  store?: { runId: string; saveEvery: number; last?: { step: number; path: string } };
}

/** The settings that lower memory, with their current values. */
export function memoryAdvice(c: GrpoConfig, weightDtype: WeightDtype | undefined, hasF16: boolean): string {
  const pixels = c.max_pixels === null ? "the checkpoint's" : String(c.max_pixels);
  const tips = [
    `fewer samples at once: num_generations (${c.num_generations}) or per_device_train_batch_size ` +
      `(${c.per_device_train_batch_size})`,
    `fewer image pixels: max_pixels (${pixels})`,
    `shorter completions: max_completion_length (${c.max_completion_length})`,
  ];
  if (weightDtype !== 'f16' && hasF16)
    tips.push(
      c.use_peft
        ? "f16 weights: weight_dtype 'f16'"
        : "f16 weights: use_peft true (LoRA) with weight_dtype 'auto' or 'f16'",
    );
  return `Lower one of: ${tips.join('; ')}; then start again.`;
}

const MODEL_ERRORS = [
  ConfigError,
  CheckpointError,
  TensorMismatchError,
  SafetensorsError,
  UnsupportedTokenizerError,
  TokenizerFileError,
  ChatTemplateError,
  ImageProcessorError,
  LoraError,
];
const DATASET_ERRORS = [DatasetFormatError, ImageDecodeError, DataOptionsError];

/** The kinds of error that end a run while it trains, where the last checkpoint is worth pointing at. */
const TRAINING_FAILURES: readonly ErrorEvent['kind'][] = ['out-of-memory', 'device-lost', 'internal'];

export function describeError(e: unknown, run: RunContext = {}): ErrorEvent {
  const event = describe(e, run);
  const store = run.store;
  if (!store || run.step === undefined || !TRAINING_FAILURES.includes(event.kind)) return event;
  const text = /[.!?]$/.test(event.message) ? `${event.message} ` : `${event.message}. `;
  const last = store.last;
  if (!last)
    return { ...event, message: `${text}No checkpoint was saved yet (one every ${store.saveEvery} steps).` };
  return {
    ...event,
    checkpoint: { runId: store.runId, step: last.step, path: last.path },
    message:
      `${text}Nothing up to step ${last.step} is lost: its checkpoint is kept in this browser's storage ` +
      `at ${last.path}; continue from it with a start request carrying resume: { runId: '${store.runId}' }.`,
  };
}

function describe(e: unknown, run: RunContext): ErrorEvent {
  const error = e instanceof Error ? e : new Error(String(e));
  const base = { type: 'error', name: error.name, message: error.message } as const;
  const where =
    run.step === undefined ? 'while loading' : `at step ${run.step} of ${run.totalSteps ?? run.step}`;
  const advice = run.config ? ` ${memoryAdvice(run.config, run.weightDtype, run.hasF16 ?? false)}` : '';
  if (error instanceof GrpoConfigError)
    return { ...base, kind: 'config', field: error.field, recoverable: true };
  if (error instanceof RequestError) return { ...base, kind: 'request', recoverable: true };
  if (error instanceof OutOfMemoryError)
    return {
      ...base,
      kind: 'out-of-memory',
      recoverable: true,
      message:
        `Out of GPU memory ${where} (allocating ${formatBytes(error.bytes)}); the run has ended and its ` +
        `GPU memory is freed.${advice}`,
    };
  if (error instanceof DeviceLostError)
    return {
      ...base,
      kind: 'device-lost',
      recoverable: true,
      message:
        `The GPU device was lost ${where} (${error.reason}); the run has ended. Start again to train on a ` +
        `new device; if it happens again the GPU is likely short of memory.${advice}`,
    };
  if (error instanceof NoAdapterError) return { ...base, kind: 'no-webgpu', recoverable: false };
  if (MODEL_ERRORS.some((c) => error instanceof c)) return { ...base, kind: 'model', recoverable: true };
  if (DATASET_ERRORS.some((c) => error instanceof c)) return { ...base, kind: 'dataset', recoverable: true };
  if (error instanceof CheckpointStateError || error instanceof RunStoreError)
    return { ...base, kind: 'checkpoint', recoverable: true };
  if (error instanceof ExportError) return { ...base, kind: 'export', recoverable: true };
  return { ...base, kind: 'internal', message: `${error.name}: ${error.message}`, recoverable: false };
}
