// The worker's run helpers without a GPU: box_space 'auto' per model, the weight storage a config asks
// for, and errors mapped to the kinds and messages the app shows (what to lower after an out-of-memory).
import { describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../src/data/errors.ts';
import {
  DeviceLostError,
  GpuValidationError,
  NoAdapterError,
  OutOfMemoryError,
} from '../../../src/gpu/errors.ts';
import { CheckpointStateError } from '../../../src/grpo/checkpoint.ts';
import { GrpoConfigError, resolveConfig } from '../../../src/grpo/config.ts';
import { ExportError } from '../../../src/grpo/export.ts';
import { resolveBoxSpace } from '../../../src/grpo/rewards/box-space.ts';
import { resolveWeightDtype } from '../../../src/grpo/weight-dtype.ts';
import { describeError, RequestError } from '../../../src/grpo/worker/errors.ts';
import { RunStoreError } from '../../../src/grpo/worker/run-store.ts';
import { CheckpointError } from '../../../src/model/errors.ts';

describe('box_space auto', () => {
  it('resolves per model and leaves an explicit space alone', () => {
    expect(resolveBoxSpace('auto', 'nano')).toBe('pixels');
    expect(resolveBoxSpace('auto', 'qwen2_vl')).toBe('norm1000');
    expect(resolveBoxSpace('auto', 'qwen2_5_vl')).toBe('input-pixels');
    expect(resolveBoxSpace('norm1', 'qwen2_vl')).toBe('norm1');
  });
});

describe('weight_dtype', () => {
  it('f16 only for LoRA on an adapter with shader-f16; f16 with full fine-tuning names the field', () => {
    expect(resolveWeightDtype({ weight_dtype: 'auto', use_peft: true }, true)).toBe('f16');
    expect(resolveWeightDtype({ weight_dtype: 'auto', use_peft: true }, false)).toBe('f32');
    expect(resolveWeightDtype({ weight_dtype: 'auto', use_peft: false }, true)).toBe('f32');
    expect(resolveWeightDtype({ weight_dtype: 'f32', use_peft: true }, true)).toBe('f32');
    expect(resolveWeightDtype({ weight_dtype: 'f16', use_peft: true }, false)).toBe('f32');
    const error = (() => {
      try {
        resolveWeightDtype({ weight_dtype: 'f16', use_peft: false }, true);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GrpoConfigError);
    expect((error as GrpoConfigError).field).toBe('weight_dtype');
    expect((error as Error).message).toMatch(/use_peft/);
  });
});

describe('worker errors', () => {
  const config = resolveConfig({ num_generations: 4, per_device_train_batch_size: 4, max_pixels: 50176 });

  it('out of memory: says what to lower, with the current values', () => {
    const e = describeError(new OutOfMemoryError(3 * 2 ** 30, 'x'), {
      config,
      step: 3,
      totalSteps: 10,
      weightDtype: 'f32',
      hasF16: true,
    });
    expect(e).toMatchObject({ kind: 'out-of-memory', recoverable: true, name: 'OutOfMemoryError' });
    expect(e.message).toMatch(/at step 3 of 10 \(allocating 3\.00 GiB\)/);
    expect(e.message).toMatch(/num_generations \(4\) or per_device_train_batch_size \(4\)/);
    expect(e.message).toMatch(/max_pixels \(50176\)/);
    expect(e.message).toMatch(/use_peft true \(LoRA\) with weight_dtype/);
    // No f16 advice when the weights are f16 already or the adapter cannot.
    const lora = { ...config, use_peft: true };
    expect(describeError(new OutOfMemoryError(1, ''), { config: lora, hasF16: true }).message).toMatch(
      /weight_dtype 'f16'/,
    );
    for (const ctx of [
      { config, weightDtype: 'f16' as const, hasF16: true },
      { config, weightDtype: 'f32' as const, hasF16: false },
    ])
      expect(describeError(new OutOfMemoryError(1, ''), ctx).message).not.toMatch(/f16/);
    expect(describeError(new OutOfMemoryError(1, ''), { config }).message).toMatch(/while loading/);
  });

  it('device lost, config, model, dataset, no WebGPU and bugs', () => {
    const lost = describeError(new DeviceLostError('unknown', 'reset'), { config, step: 1, totalSteps: 2 });
    expect(lost).toMatchObject({ kind: 'device-lost', recoverable: true });
    expect(lost.message).toMatch(/Start again/);
    expect(lost.message).toMatch(/max_pixels/);
    expect(describeError(new GrpoConfigError('beta', 'beta must be >= 0'))).toEqual({
      type: 'error',
      kind: 'config',
      name: 'GrpoConfigError',
      field: 'beta',
      message: 'beta must be >= 0',
      recoverable: true,
    });
    expect(describeError(new CheckpointError('config.json', 'no config.json'))).toMatchObject({
      kind: 'model',
      recoverable: true,
    });
    expect(describeError(new DatasetFormatError('x.json', 'bad'))).toMatchObject({ kind: 'dataset' });
    expect(describeError(new NoAdapterError('none'))).toMatchObject({
      kind: 'no-webgpu',
      recoverable: false,
    });
    expect(describeError(new GpuValidationError('bad bind'))).toMatchObject({
      kind: 'internal',
      recoverable: false,
      message: 'GpuValidationError: bad bind',
    });
    expect(describeError('thrown string')).toMatchObject({
      kind: 'internal',
      message: 'Error: thrown string',
    });
  });
  it('a run that fails while training says where its last checkpoint is kept', () => {
    const store = { runId: 'r1', saveEvery: 50, last: { step: 100, path: 'runs/r1/checkpoint-100' } };
    const oom = describeError(new OutOfMemoryError(2 ** 20, 'x'), {
      config,
      step: 101,
      totalSteps: 300,
      store,
    });
    expect(oom.checkpoint).toEqual({ runId: 'r1', step: 100, path: 'runs/r1/checkpoint-100' });
    expect(oom.message).toMatch(/then start again\. Nothing up to step 100 is lost: its checkpoint is kept/);
    expect(oom.message).toMatch(
      /at runs\/r1\/checkpoint-100; continue from it with .*resume: \{ runId: 'r1' \}/,
    );
    const early = describeError(new DeviceLostError('unknown', 'reset'), {
      step: 3,
      store: { runId: 'r1', saveEvery: 50 },
    });
    expect(early.checkpoint).toBeUndefined();
    expect(early.message).toMatch(/No checkpoint was saved yet \(one every 50 steps\)\.$/);
    // Not while loading, nor for errors that are the request's.
    expect(describeError(new OutOfMemoryError(1, ''), { store }).message).not.toMatch(/checkpoint/);
    expect(describeError(new RequestError('no'), { step: 3, store }).message).toBe('no');
  });

  it('stored runs, exports and requests', () => {
    for (const e of [new CheckpointStateError('x'), new RunStoreError('y')])
      expect(describeError(e)).toMatchObject({ kind: 'checkpoint', recoverable: true });
    expect(describeError(new ExportError('z'))).toMatchObject({ kind: 'export', recoverable: true });
    expect(describeError(new RequestError('w'))).toMatchObject({ kind: 'request', name: 'RequestError' });
  });
});
