// The memory estimate's inputs (the page's and the plan's): the dataset's largest image as the model's
// processor resizes it (its min / max pixels, or the run's), and the weight storage the run will use.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/grpo/config.ts';
import { memoryInputs } from '../../src/grpo/memory.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { imageOptionsFromConfig } from '../../src/model/image-processor.ts';

const nano = parseModelConfig(readFileSync('public/nano/config.json', 'utf8'));
const processor = imageOptionsFromConfig(
  JSON.parse(readFileSync('public/nano/preprocessor_config.json', 'utf8')),
);

describe('memoryInputs', () => {
  it("bounds a large image by the processor's max_pixels (nano: 50,176, 224 x 224)", () => {
    const i = memoryInputs(nano, processor, DEFAULT_CONFIG, { width: 1024, height: 1024 }, false);
    expect(i.resized).toEqual({ width: 224, height: 224 });
    expect(i.imagePatches).toBe(256);
    expect(i.promptTokens).toBe(64 + 64);
    expect(i.weightBytes).toBe(4);
  });

  it("takes the run's max_pixels over the processor's, and f16 weights for LoRA on an f16 adapter", () => {
    const config = { ...DEFAULT_CONFIG, max_pixels: 112 * 112, use_peft: true };
    const i = memoryInputs(nano, processor, config, { width: 1024, height: 1024 }, true);
    expect(i.resized).toEqual({ width: 112, height: 112 });
    expect(i.imagePatches).toBe(64);
    expect(i.weightBytes).toBe(2);
    expect(memoryInputs(nano, processor, config, { width: 1024, height: 1024 }, false).weightBytes).toBe(4);
  });

  it('raises a small image to min_pixels', () => {
    expect(memoryInputs(nano, processor, DEFAULT_CONFIG, { width: 48, height: 32 }, false).resized).toEqual({
      width: 84,
      height: 56,
    });
  });
});
