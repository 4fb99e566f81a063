// Beside Train, before anything is loaded: about how much GPU memory a run of the chosen model and settings
// takes (src/grpo/memory.ts), and whether its largest buffer fits this adapter's limits. WebGPU does not
// report a device's memory, so the total is for the person to compare with their GPU's.
import { useEffect, useState } from 'react';
import type { AdapterSummary } from '../../gpu/adapter.ts';
import { formatBytes } from '../../gpu/errors.ts';
import type { GrpoConfig } from '../../grpo/config.ts';
import { bufferFit, estimateMemory, type MemoryInputs } from '../../grpo/memory.ts';
import { resolveWeightDtype } from '../../grpo/weight-dtype.ts';
import type { DatasetSource } from '../../grpo/worker/protocol.ts';
import { type ModelConfig, parseModelConfig } from '../../model/config.ts';
import type { ModelChoice } from './model-choice.ts';

/** The synthetic scenes are 84 x 84: 6 x 6 patches of 14 px. */
const SYNTHETIC_PATCHES = 36;
/** Images of other datasets, when max_pixels does not bound them: a 1024 x 1024 photograph. */
const ASSUMED_PIXELS = 1024 * 1024;
/** Prompt text around the image pads: template, question, prefill. */
const PROMPT_TEXT_TOKENS = 64;

async function readModelConfig(model: ModelChoice): Promise<ModelConfig> {
  if (model.source.kind === 'nano') {
    const response = await fetch(`${import.meta.env.BASE_URL}nano/config.json`);
    if (!response.ok) throw new Error(`nano/config.json: HTTP ${response.status}`);
    return parseModelConfig(await response.text());
  }
  const file = model.source.files.find((f) => f.name === 'config.json');
  if (!file) throw new Error('the folder has no config.json');
  return parseModelConfig(await file.text());
}

export function memoryInputs(
  model: ModelConfig,
  config: GrpoConfig,
  dataset: DatasetSource,
  hasF16: boolean,
): MemoryInputs & { pixels: number } {
  const patchArea = model.vision.patchSize ** 2;
  const merge = model.vision.spatialMergeSize ** 2;
  const patches =
    dataset.kind === 'synthetic'
      ? SYNTHETIC_PATCHES
      : Math.ceil((config.max_pixels ?? ASSUMED_PIXELS) / patchArea);
  return {
    promptTokens: PROMPT_TEXT_TOKENS + Math.ceil(patches / merge),
    imagePatches: patches,
    weightBytes: resolveWeightDtype(config, hasF16) === 'f16' ? 2 : 4,
    pixels: patches * patchArea,
  };
}

export function MemoryFit(props: {
  model: ModelChoice;
  config: GrpoConfig | null;
  dataset: DatasetSource;
  adapter: AdapterSummary;
}) {
  const { model, config, dataset, adapter } = props;
  const [modelConfig, setModelConfig] = useState<{
    for: ModelChoice;
    config?: ModelConfig;
    error?: string;
  }>();
  useEffect(() => {
    let current = true;
    readModelConfig(model).then(
      (c) => current && setModelConfig({ for: model, config: c }),
      (e: unknown) =>
        current && setModelConfig({ for: model, error: e instanceof Error ? e.message : String(e) }),
    );
    return () => {
      current = false;
    };
  }, [model]);
  if (config === null || modelConfig?.for !== model) return null;
  if (modelConfig.error !== undefined)
    return (
      <p className="muted" data-testid="memory-fit">
        No memory estimate: {modelConfig.error}.
      </p>
    );
  let inputs: ReturnType<typeof memoryInputs>;
  try {
    inputs = memoryInputs(modelConfig.config!, config, dataset, adapter.features.includes('shader-f16'));
  } catch {
    // The form reports the contradiction (weight_dtype f16 with full fine-tuning).
    return null;
  }
  const e = estimateMemory(modelConfig.config!, config, inputs);
  const fit = bufferFit(e, {
    maxBufferSize: adapter.limits.maxBufferSize ?? 0,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
  });
  const side = Math.round(Math.sqrt(inputs.pixels));
  return (
    <div data-testid="memory-fit">
      <p className="muted">
        Needs about <strong data-testid="memory-total">{formatBytes(e.total)}</strong> of GPU memory: weights{' '}
        {formatBytes(e.weights)}, training state {formatBytes(e.training)}, a step's peak{' '}
        {formatBytes(Math.max(e.generation, e.microBatch))} (images up to about {side}×{side}, completions of{' '}
        {config.max_completion_length} tokens). WebGPU does not tell a page how much memory the GPU has;
        compare with yours.
      </p>
      {!fit.ok && (
        <p className="error" role="alert" data-testid="memory-misfit">
          This will not fit: {fit.message}.
        </p>
      )}
    </div>
  );
}
