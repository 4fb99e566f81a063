// The label the app gives a picked or dropped model folder: named after the folder, and saying when a
// PEFT adapter beside the weights will be trained further.
import { describe, expect, it } from 'vitest';
import { modelFromEntries } from '../../../src/ui/training/model-choice.ts';

const entries = (names: string[], folder = 'qwen') =>
  names.map((n) => ({ path: folder ? `${folder}/${n}` : n, file: new File(['x'], n) }));

describe('modelFromEntries', () => {
  it('names the folder, and its adapter when it has one', () => {
    const model = ['config.json', 'model.safetensors'];
    expect(modelFromEntries(entries(model)).label).toBe('the model in qwen');
    expect(
      modelFromEntries(entries([...model, 'adapter_config.json', 'adapter_model.safetensors'])).label,
    ).toBe('the model in qwen with its LoRA adapter');
    expect(modelFromEntries(entries(model, '')).label).toBe('the dropped model (2 files)');
  });
});
