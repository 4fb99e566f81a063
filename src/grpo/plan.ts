// The memory plan a run is held to before anything loads (`vgrpo plan`, `vgrpo train`): the estimate of
// memory.ts by kind at the step's peak, the limits it must stay within (the device's memory when it is
// known, the adapter's largest buffer always), whether it fits, and, when it does not, which single
// change of settings would make it fit.
import { formatBytes } from '../gpu/errors.ts';
import type { ModelConfig } from '../model/config.ts';
import type { ImageProcessorOptions } from '../model/image-processor.ts';
import type { GrpoConfig } from './config.ts';
import { estimateMemory, memoryInputs } from './memory.ts';

export interface PlanLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** The device's memory in bytes; null when the adapter does not say (WebGPU does not). */
  memoryBytes: number | null;
  hasF16: boolean;
}

export interface PlanSubject {
  model: ModelConfig;
  processor: ImageProcessorOptions;
  /** The dataset's largest image, before the processor resizes it. */
  image: { width: number; height: number };
}

export interface MemoryPlan {
  fits: boolean;
  /**
   * At the step's peak. Generation and a micro-batch's backward do not overlap: kv_cache is what the
   * peak holds of the KV cache (0 when the micro-batch is the larger phase), activations the rest.
   */
  bytes: {
    weights: number;
    kv_cache: number;
    activations: number;
    gradients: number;
    optimizer: number;
    total: number;
  };
  limit_bytes: number | null;
  largest_buffer_bytes: number;
  buffer_limit_bytes: number;
  /** Why it does not fit (empty when it does). */
  problems: string[];
  /** Single changes of settings that would make it fit, as `field: value` (empty when it fits). */
  advice: string[];
  /** The same changes as settings, one per advice entry (for a form to apply). */
  advice_changes: Partial<GrpoConfig>[];
}

function assess(s: PlanSubject, config: GrpoConfig, limits: PlanLimits) {
  const inputs = memoryInputs(s.model, s.processor, config, s.image, limits.hasF16);
  const e = estimateMemory(s.model, config, inputs);
  const bufferLimit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const problems: string[] = [];
  if (limits.memoryBytes !== null && e.total > limits.memoryBytes)
    problems.push(`it needs ${formatBytes(e.total)} of the device's ${formatBytes(limits.memoryBytes)}`);
  if (e.largestBuffer > bufferLimit)
    problems.push(
      `its largest buffer (${formatBytes(e.largestBuffer)}) is over the adapter's ${formatBytes(bufferLimit)} buffer limit`,
    );
  if (e.largestRowBuffer > limits.maxBufferSize)
    problems.push(
      `its logits (or trained embedding) take ${formatBytes(e.largestRowBuffer)} in one buffer, over the adapter's ` +
        `maxBufferSize of ${formatBytes(limits.maxBufferSize)}`,
    );
  return { e, inputs, bufferLimit, problems };
}

/** The changes the advice tries, one at a time, each only where it changes something. */
function candidates(
  config: GrpoConfig,
  resizedArea: number,
  limits: PlanLimits,
): [string, Partial<GrpoConfig>][] {
  const out: [string, Partial<GrpoConfig>][] = [];
  const set = (label: string, change: Partial<GrpoConfig>) => out.push([label, change]);
  if (config.use_peft && limits.hasF16 && config.weight_dtype !== 'f16')
    set("weight_dtype: 'f16'", { weight_dtype: 'f16' });
  if (!config.use_peft) set('use_peft: true (LoRA)', { use_peft: true });
  if (!config.gradient_checkpointing) set('gradient_checkpointing: true', { gradient_checkpointing: true });
  const b = config.per_device_train_batch_size;
  const ga = config.gradient_accumulation_steps;
  // Half the micro-batch, twice the accumulation: the same prompts per step, half the activations.
  if (b % 2 === 0 && (b / 2) % config.num_generations === 0)
    set(`per_device_train_batch_size: ${b / 2} with gradient_accumulation_steps: ${ga * 2}`, {
      per_device_train_batch_size: b / 2,
      gradient_accumulation_steps: ga * 2,
    });
  if (config.generation_batch_size === null && config.steps_per_generation === null && ga % 2 === 0)
    set(`gradient_accumulation_steps: ${ga / 2} (half the prompts per step)`, {
      gradient_accumulation_steps: ga / 2,
    });
  if (config.max_completion_length >= 32)
    set(`max_completion_length: ${config.max_completion_length / 2}`, {
      max_completion_length: Math.floor(config.max_completion_length / 2),
    });
  const quarter = Math.floor(resizedArea / 4);
  if (quarter >= 28 * 28 * 4) set(`max_pixels: ${quarter}`, { max_pixels: quarter });
  if (config.use_peft && config.lora_r >= 4)
    set(`lora_r: ${config.lora_r / 2}`, { lora_r: config.lora_r / 2 });
  return out;
}

export function memoryPlan(subject: PlanSubject, config: GrpoConfig, limits: PlanLimits): MemoryPlan {
  const { e, inputs, bufferLimit, problems } = assess(subject, config, limits);
  const generationPeak = e.generation >= e.microBatch;
  const phase = Math.max(e.generation, e.microBatch);
  const kv = generationPeak ? e.kvCache : 0;
  const advice: string[] = [];
  const changes: Partial<GrpoConfig>[] = [];
  if (problems.length > 0) {
    const area = inputs.resized.width * inputs.resized.height;
    for (const [label, change] of candidates(config, area, limits)) {
      try {
        if (assess(subject, { ...config, ...change }, limits).problems.length === 0) {
          advice.push(label);
          changes.push(change);
        }
      } catch {
        // A change that contradicts another setting is no advice.
      }
    }
  }
  return {
    fits: problems.length === 0,
    bytes: {
      weights: e.total - phase - e.gradients - e.optimizer,
      kv_cache: kv,
      activations: phase - kv,
      gradients: e.gradients,
      optimizer: e.optimizer,
      total: e.total,
    },
    limit_bytes: limits.memoryBytes,
    largest_buffer_bytes: e.largestBuffer,
    buffer_limit_bytes: bufferLimit,
    problems,
    advice,
    advice_changes: changes,
  };
}

/** The plan for a person: one line of figures, and what does not fit with what would. */
export function describePlan(p: MemoryPlan): string {
  const b = p.bytes;
  const lines = [
    `memory plan: ${formatBytes(b.total)} (weights ${formatBytes(b.weights)}, KV cache ${formatBytes(b.kv_cache)}, activations ` +
      `${formatBytes(b.activations)}, gradients ${formatBytes(b.gradients)}, optimizer ${formatBytes(b.optimizer)}) of ` +
      `${p.limit_bytes === null ? 'a device memory WebGPU does not report' : formatBytes(p.limit_bytes)}; ` +
      `largest buffer ${formatBytes(p.largest_buffer_bytes)} of ${formatBytes(p.buffer_limit_bytes)}`,
  ];
  if (!p.fits) {
    lines.push(`it does not fit: ${p.problems.join('; ')}`);
    lines.push(
      p.advice.length > 0
        ? `any one of these would make it fit: ${p.advice.join('; ')}`
        : 'no single change of settings makes it fit: combine f16 weights, LoRA, fewer samples and fewer pixels, or use a device with more memory',
    );
  }
  return lines.join('\n');
}
