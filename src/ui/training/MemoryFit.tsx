// Beside Train, before anything is loaded: about how much GPU memory a run of the chosen model and settings
// takes (src/grpo/memory.ts), and whether its largest buffer fits this adapter's limits. WebGPU does not
// report a device's memory, so the total is for the person to compare with their GPU's.
import { useEffect, useState } from 'react';
import { NANO_TASK } from '../../data/synthetic.ts';
import type { AdapterSummary } from '../../gpu/adapter.ts';
import { formatBytes } from '../../gpu/errors.ts';
import type { GrpoConfig } from '../../grpo/config.ts';
import { bufferFit, estimateMemory, memoryInputs } from '../../grpo/memory.ts';
import type { DatasetSource, ImageSize } from '../../grpo/worker/protocol.ts';
import { type ModelConfig, parseModelConfig } from '../../model/config.ts';
import {
  type ImageProcessorOptions,
  imageOptionsFromConfig,
  QWEN_VL_IMAGE_DEFAULTS,
} from '../../model/image-processor.ts';
import type { ModelChoice } from './model-choice.ts';

/** The synthetic scenes' size (src/data/synthetic.ts NANO_TASK). */
const SYNTHETIC_IMAGE: ImageSize = { width: NANO_TASK.width!, height: NANO_TASK.height! };
/** When a dataset's image sizes are not known: a 1024 x 1024 photograph. */
const ASSUMED_IMAGE: ImageSize = { width: 1024, height: 1024 };

interface ModelFiles {
  config: ModelConfig;
  /** The processor's image bounds (preprocessor_config.json; the Qwen defaults without one). */
  images: ImageProcessorOptions;
}

async function readModelFiles(model: ModelChoice): Promise<ModelFiles> {
  if (model.source.kind === 'nano') {
    const read = async (name: string) => {
      const response = await fetch(`${import.meta.env.BASE_URL}nano/${name}`);
      if (!response.ok) throw new Error(`nano/${name}: HTTP ${response.status}`);
      return response.text();
    };
    const [config, processor] = await Promise.all([read('config.json'), read('preprocessor_config.json')]);
    return { config: parseModelConfig(config), images: imageOptionsFromConfig(JSON.parse(processor)) };
  }
  const file = (name: string) =>
    model.source.kind === 'files' && model.source.files.find((f) => f.name === name);
  const config = file('config.json');
  if (!config) throw new Error('the folder has no config.json');
  const processor = file('preprocessor_config.json');
  return {
    config: parseModelConfig(await config.text()),
    images: processor ? imageOptionsFromConfig(JSON.parse(await processor.text())) : QWEN_VL_IMAGE_DEFAULTS,
  };
}

export function MemoryFit(props: {
  model: ModelChoice;
  config: GrpoConfig | null;
  dataset: DatasetSource;
  /** The opened dataset's largest image; null when unknown. */
  largestImage: ImageSize | null;
  adapter: AdapterSummary;
}) {
  const { model, config, dataset, adapter } = props;
  const image = dataset.kind === 'synthetic' ? SYNTHETIC_IMAGE : (props.largestImage ?? ASSUMED_IMAGE);
  const [files, setFiles] = useState<{ for: ModelChoice; files?: ModelFiles; error?: string }>();
  useEffect(() => {
    let current = true;
    readModelFiles(model).then(
      (f) => current && setFiles({ for: model, files: f }),
      (e: unknown) => current && setFiles({ for: model, error: e instanceof Error ? e.message : String(e) }),
    );
    return () => {
      current = false;
    };
  }, [model]);
  if (config === null || files?.for !== model) return null;
  if (files.error !== undefined)
    return (
      <p className="muted" data-testid="memory-fit">
        No memory estimate: {files.error}.
      </p>
    );
  let inputs: ReturnType<typeof memoryInputs>;
  try {
    inputs = memoryInputs(
      files.files!.config,
      files.files!.images,
      config,
      image,
      adapter.features.includes('shader-f16'),
    );
  } catch {
    // The form reports a contradiction (weight_dtype f16 with full fine-tuning); a dataset's images
    // that cannot be resized are reported when it opens.
    return null;
  }
  const e = estimateMemory(files.files!.config, config, inputs);
  const fit = bufferFit(e, {
    maxBufferSize: adapter.limits.maxBufferSize ?? 0,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
  });
  const known = dataset.kind === 'synthetic' || props.largestImage !== null;
  return (
    <div data-testid="memory-fit">
      <p className="muted">
        Needs about <strong data-testid="memory-total">{formatBytes(e.total)}</strong> of GPU memory: weights{' '}
        {formatBytes(e.weights)}, training state {formatBytes(e.training)}, a step's peak{' '}
        {formatBytes(Math.max(e.generation, e.microBatch))} ({known ? 'its largest image' : 'images assumed'}{' '}
        {inputs.resized.width}×{inputs.resized.height} as the model sees it, completions of{' '}
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
