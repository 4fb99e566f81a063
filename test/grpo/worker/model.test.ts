// A model folder's files as the worker reads them: a PEFT adapter beside the weights is found by its
// base names (both files or an error naming the missing one), and its bytes are not counted as the
// model's weights in the loading progress.
import { describe, expect, it } from 'vitest';
import { folderAdapter, weightBytes } from '../../../src/grpo/worker/model.ts';
import { CheckpointError } from '../../../src/model/errors.ts';

const file = (name: string, bytes: number | string) =>
  new File([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)], name);

describe('a model folder with an adapter', () => {
  const model = [file('config.json', '{}'), file('model.safetensors', 1000)];
  const adapter = [
    file('adapter_config.json', '{"peft_type":"LORA","r":2}'),
    file('adapter_model.safetensors', 24),
  ];

  it('reads both adapter files, or none when the folder has none', async () => {
    expect(await folderAdapter(model)).toBeUndefined();
    const read = await folderAdapter([...model, ...adapter]);
    expect(read?.['adapter_config.json']).toBe('{"peft_type":"LORA","r":2}');
    expect(read?.['adapter_model.safetensors']).toHaveLength(24);
  });

  it('names the missing half', async () => {
    const half = folderAdapter([...model, adapter[0]!]);
    await expect(half).rejects.toThrow(CheckpointError);
    await expect(half).rejects.toThrow(/adapter_config\.json but no adapter_model\.safetensors/);
    await expect(folderAdapter([...model, adapter[1]!])).rejects.toThrow(
      /adapter_model\.safetensors but no adapter_config\.json/,
    );
  });

  it('counts only the model weights for the loading progress', () => {
    expect(weightBytes([...model, ...adapter])).toBe(1000);
  });
});
