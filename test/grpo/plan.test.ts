// The memory plan: its parts add up to the estimate's total at the step's peak (the KV cache when
// generation is the larger phase), it fits or names what is over (the device's memory, the adapter's
// largest buffer), and every change it advises, made alone, does make the run fit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type GrpoConfig, resolveConfig } from '../../src/grpo/config.ts';
import { estimateMemory, memoryInputs } from '../../src/grpo/memory.ts';
import { describePlan, memoryPlan, type PlanLimits, type PlanSubject } from '../../src/grpo/plan.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { imageOptionsFromConfig, QWEN_VL_IMAGE_DEFAULTS } from '../../src/model/image-processor.ts';

const nano: PlanSubject = {
  model: parseModelConfig(readFileSync('public/nano/config.json', 'utf8')),
  processor: imageOptionsFromConfig(JSON.parse(readFileSync('public/nano/preprocessor_config.json', 'utf8'))),
  image: { width: 112, height: 112 },
};
const twoB: PlanSubject = {
  model: parseModelConfig(readFileSync('test/fixtures/model/qwen2-vl-2b-instruct.config.json', 'utf8')),
  processor: QWEN_VL_IMAGE_DEFAULTS,
  image: { width: 448, height: 448 },
};
const GIB = 2 ** 30;
const roomy: PlanLimits = {
  maxBufferSize: 4 * GIB,
  maxStorageBufferBindingSize: 2 * GIB,
  memoryBytes: 64 * GIB,
  hasF16: true,
};
const demo = resolveConfig({}, { preset: 'nano-demo' });
const lora2b = resolveConfig(
  {
    use_peft: true,
    num_generations: 2,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 2,
    max_completion_length: 64,
  },
  {},
);

function sum(b: ReturnType<typeof memoryPlan>['bytes']): number {
  return b.weights + b.kv_cache + b.activations + b.gradients + b.optimizer;
}

describe('memoryPlan', () => {
  it.each([
    ['nano, nano-demo', nano, demo],
    ['2B, LoRA', twoB, lora2b],
  ] as [string, PlanSubject, GrpoConfig][])('%s: the parts add up to the estimate', (_, subject, config) => {
    const p = memoryPlan(subject, config, roomy);
    const e = estimateMemory(
      subject.model,
      config,
      memoryInputs(subject.model, subject.processor, config, subject.image, true),
    );
    expect(p.bytes.total).toBe(e.total);
    expect(sum(p.bytes)).toBe(p.bytes.total);
    expect(p.bytes.gradients).toBe(e.trainableParameters * 4);
    expect(p.bytes.optimizer).toBe(e.trainableParameters * 8);
    expect(p.bytes.kv_cache).toBe(e.generation >= e.microBatch ? e.kvCache : 0);
    expect(p.fits).toBe(true);
    expect(p.problems).toEqual([]);
    expect(p.advice).toEqual([]);
  });

  it('counts the KV cache when generation is the larger phase', () => {
    // Many completions generated at once, one small micro-batch each backward.
    const config = resolveConfig(
      {
        num_generations: 2,
        per_device_train_batch_size: 2,
        gradient_accumulation_steps: 32,
        max_completion_length: 512,
      },
      {},
    );
    const p = memoryPlan(nano, config, roomy);
    expect(p.bytes.kv_cache).toBeGreaterThan(0);
    expect(sum(p.bytes)).toBe(p.bytes.total);
  });

  it('fits on the buffer limit alone when the device memory is unknown', () => {
    const p = memoryPlan(twoB, lora2b, { ...roomy, memoryBytes: null });
    expect(p.fits).toBe(true);
    expect(p.limit_bytes).toBeNull();
    expect(describePlan(p)).toMatch(/a device memory WebGPU does not report/);
  });

  it('refuses a plan over the device memory and advises changes that each make it fit', () => {
    const f32 = { ...lora2b, weight_dtype: 'f32' as const, gradient_checkpointing: false };
    const total = memoryPlan(twoB, f32, roomy).bytes.total;
    // f16 weights save half of the 2B's 8.8 GB of f32 weights, checkpointing most of 28 layers'
    // activations, and a quarter of the pixels three quarters of the image pads: each more than 1 GiB.
    const limits = { ...roomy, memoryBytes: total - GIB };
    const p = memoryPlan(twoB, f32, limits);
    expect(p.fits).toBe(false);
    expect(p.problems.join()).toMatch(/of the device's/);
    for (const [label, change] of [
      ["weight_dtype: 'f16'", { weight_dtype: 'f16' }],
      ['gradient_checkpointing: true', { gradient_checkpointing: true }],
      ['max_pixels: 50176', { max_pixels: 50176 }],
    ] as const) {
      expect(p.advice).toContain(label);
      expect(memoryPlan(twoB, { ...f32, ...change }, limits).fits).toBe(true);
    }
    expect(p.advice_changes).toHaveLength(p.advice.length);
    for (const change of p.advice_changes)
      expect(memoryPlan(twoB, { ...f32, ...change }, limits).fits).toBe(true);
    expect(describePlan(p)).toMatch(/any one of these would make it fit: .*weight_dtype: 'f16'/);
  });

  it('names the buffer limits a buffer is over', () => {
    // A micro-batch's MLP activations are bound whole: held to the binding limit.
    const bound = memoryPlan(twoB, lora2b, { ...roomy, maxStorageBufferBindingSize: 8 * 2 ** 20 });
    expect(bound.fits).toBe(false);
    expect(bound.problems.join()).toMatch(/largest buffer \([\d.]+ MiB\) is over the adapter's 8\.0 MiB/);
    // Without gradient checkpointing the kept logits are one buffer, read in row ranges: held to
    // maxBufferSize only; the frozen 2B embedding (467 MiB in f16) is stored in row blocks and holds to
    // neither.
    const whole = { ...lora2b, gradient_checkpointing: false };
    const rows = memoryPlan(twoB, whole, { ...roomy, maxBufferSize: 64 * 2 ** 20 });
    expect(rows.problems).toHaveLength(1);
    expect(rows.problems[0]).toMatch(/logits .* over the adapter's maxBufferSize of 64\.0 MiB/);
    expect(rows.advice).toContain('max_completion_length: 32');
    expect(memoryPlan(twoB, whole, { ...roomy, maxBufferSize: 256 * 2 ** 20 }).fits).toBe(true);
    // With it they are formed a chunk of at most 64 MiB at a time, whatever the completions' length.
    expect(memoryPlan(twoB, lora2b, { ...roomy, maxBufferSize: 64 * 2 ** 20 }).fits).toBe(true);
    const long = { ...lora2b, max_completion_length: 1024 };
    expect(memoryPlan(twoB, long, { ...roomy, maxBufferSize: 64 * 2 ** 20 }).problems.join()).not.toMatch(
      /logits/,
    );
    const rowBuffer = (config: GrpoConfig) =>
      estimateMemory(twoB.model, config, memoryInputs(twoB.model, twoB.processor, config, twoB.image, true))
        .largestRowBuffer;
    expect(rowBuffer(long)).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(rowBuffer({ ...long, gradient_checkpointing: false })).toBe(2 * 1024 * 151936 * 4);
  });

  it('says so when no single change is enough', () => {
    const p = memoryPlan(twoB, lora2b, { ...roomy, memoryBytes: 2 ** 20 });
    expect(p.fits).toBe(false);
    expect(p.advice).toEqual([]);
    expect(describePlan(p)).toMatch(/no single change of settings makes it fit/);
  });
});
