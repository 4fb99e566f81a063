// Beside the model picker, before anything is loaded: the memory plan of a run of the chosen model and
// settings (src/grpo/plan.ts): weights, KV cache, activations, gradients and optimizer state at the step's
// peak, against the adapter's largest buffer and, once the person gives it, the GPU's memory (WebGPU does
// not report it). A plan that does not fit keeps Train off and offers the changes that would make it fit.
import { useEffect, useMemo, useState } from 'react';
import { NANO_TASK } from '../../data/synthetic.ts';
import type { AdapterSummary } from '../../gpu/adapter.ts';
import { formatBytes } from '../../gpu/errors.ts';
import type { GrpoConfig } from '../../grpo/config.ts';
import { memoryInputs } from '../../grpo/memory.ts';
import { describePlan, type MemoryPlan, memoryPlan } from '../../grpo/plan.ts';
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

const MEMORY_KEY = 'vision-grpo:gpu-memory-gib';

/** The GPU memory the person typed (GiB, kept across visits); '' when not given. */
export function useGpuMemory(): [string, (value: string) => void] {
  const [value, setValue] = useState(() => globalThis.localStorage?.getItem(MEMORY_KEY) ?? '');
  const set = (v: string) => {
    setValue(v);
    globalThis.localStorage?.setItem(MEMORY_KEY, v);
  };
  return [value, set];
}

export type PlanState =
  | { kind: 'none' }
  | { kind: 'error'; message: string }
  | { kind: 'plan'; plan: MemoryPlan; resized: ImageSize; imageKnown: boolean };

/** The plan of the chosen model and settings; 'none' while the model's files are read or the form is invalid. */
export function useMemoryPlan(props: {
  model: ModelChoice;
  config: GrpoConfig | null;
  dataset: DatasetSource;
  largestImage: ImageSize | null;
  adapter: AdapterSummary;
  memoryGiB: string;
}): PlanState {
  const { model, config, dataset, adapter, memoryGiB, largestImage } = props;
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
  return useMemo((): PlanState => {
    if (config === null || files?.for !== model) return { kind: 'none' };
    if (files.error !== undefined) return { kind: 'error', message: files.error };
    const image = dataset.kind === 'synthetic' ? SYNTHETIC_IMAGE : (largestImage ?? ASSUMED_IMAGE);
    const gib = Number(memoryGiB);
    const subject = { model: files.files!.config, processor: files.files!.images, image };
    const hasF16 = adapter.features.includes('shader-f16');
    try {
      const plan = memoryPlan(subject, config, {
        maxBufferSize: adapter.limits.maxBufferSize ?? 0,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
        memoryBytes: memoryGiB !== '' && gib > 0 ? Math.round(gib * 2 ** 30) : null,
        hasF16,
      });
      const { resized } = memoryInputs(subject.model, subject.processor, config, image, hasF16);
      return {
        kind: 'plan',
        plan,
        resized,
        imageKnown: dataset.kind === 'synthetic' || largestImage !== null,
      };
    } catch {
      // The form reports a contradiction (weight_dtype f16 with full fine-tuning); a dataset's images
      // that cannot be resized are reported when it opens.
      return { kind: 'none' };
    }
  }, [config, files, model, dataset, largestImage, adapter, memoryGiB]);
}

/** A plan's advice as text for the form's inputs. */
function asInputs(change: Partial<GrpoConfig>): [keyof GrpoConfig, string][] {
  return Object.entries(change).map(([k, v]) => [k as keyof GrpoConfig, String(v)]);
}

export function MemoryFit(props: {
  state: PlanState;
  maxCompletionLength: number;
  memoryGiB: string;
  onMemoryGiB: (value: string) => void;
  onApply: (inputs: [keyof GrpoConfig, string][]) => void;
}) {
  const { state } = props;
  if (state.kind === 'none') return null;
  if (state.kind === 'error')
    return (
      <p className="muted" data-testid="memory-fit">
        No memory plan: {state.message}.
      </p>
    );
  const { plan, resized, imageKnown } = state;
  const b = plan.bytes;
  return (
    <div data-testid="memory-fit" className="memory-plan">
      <p className="muted">
        Memory plan: <strong data-testid="memory-total">{formatBytes(b.total)}</strong> of GPU memory at the
        step's peak: weights {formatBytes(b.weights)}, KV cache {formatBytes(b.kv_cache)}, activations{' '}
        {formatBytes(b.activations)}, gradients {formatBytes(b.gradients)}, optimizer state{' '}
        {formatBytes(b.optimizer)} ({imageKnown ? 'its largest image' : 'images assumed'} {resized.width}×
        {resized.height} as the model sees it, completions of {props.maxCompletionLength} tokens); largest
        buffer {formatBytes(plan.largest_buffer_bytes)} of this adapter's{' '}
        {formatBytes(plan.buffer_limit_bytes)}.
      </p>
      <label className="memory-limit">
        GPU memory (GiB){' '}
        <input
          type="number"
          min="0"
          step="any"
          value={props.memoryGiB}
          placeholder="unknown"
          onChange={(e) => props.onMemoryGiB(e.target.value)}
          data-testid="memory-limit"
        />{' '}
        <span className="muted">
          {plan.limit_bytes === null
            ? 'WebGPU does not tell a page how much memory the GPU has: enter yours to check the plan against it.'
            : plan.fits
              ? 'The plan fits.'
              : ''}
        </span>
      </label>
      {!plan.fits && (
        <div className="error" role="alert" data-testid="memory-misfit">
          <p>This will not fit: {plan.problems.join('; ')}.</p>
          {plan.advice.length > 0 ? (
            <p>
              Any one of these would make it fit:{' '}
              {plan.advice.map((label, i) => (
                <button
                  type="button"
                  key={label}
                  className="advice"
                  onClick={() => props.onApply(asInputs(plan.advice_changes[i]!))}
                  data-testid="memory-advice"
                >
                  {label}
                </button>
              ))}
            </p>
          ) : (
            <p>{describePlan(plan).split('\n').at(-1)}.</p>
          )}
        </div>
      )}
    </div>
  );
}
