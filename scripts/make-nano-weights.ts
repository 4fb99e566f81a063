// Builds the nano preset's weights (public/nano/model.safetensors): every tensor parameterShapes lists
// for public/nano/config.json, initialised as transformers' Qwen2-VL `_init_weights` does (Linear,
// Conv3d and Embedding weights ~ N(0, initializer_range^2), biases 0, RMSNorm / LayerNorm weights 1),
// from a fixed seed, stored as BF16 with metadata {format: 'pt'}. An untrained starting point.
// Deterministic: rerunning it reproduces the file byte for byte.
//
//   node --import ./bin/register.js scripts/make-nano-weights.ts [OUT_DIR]   (default public/nano)

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parameterShapes, parseModelConfig } from '../src/model/config.ts';
import { gaussianStream } from '../src/model/random.ts';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors-write.ts';

export const NANO_WEIGHTS_SEED = 20241124;
export const NANO_WEIGHTS_FILE = 'model.safetensors';

const NANO_DIR = fileURLToPath(new URL('../public/nano', import.meta.url));

/**
 * The initial value rule for one parameter: rank-1 `*.bias` -> 0, other rank-1 (norm weights) -> 1,
 * everything else (Linear / Conv3d / Embedding weights) ~ N(0, std^2).
 */
export function initKind(name: string, shape: readonly number[]): 'zeros' | 'ones' | 'normal' {
  if (shape.length === 1) return name.endsWith('.bias') ? 'zeros' : 'ones';
  return 'normal';
}

/** The nano checkpoint's tensors (f32 values, written as BF16) for a config.json object. */
export function nanoWeightTensors(configJson: unknown, seed = NANO_WEIGHTS_SEED): TensorToWrite[] {
  const config = parseModelConfig(configJson);
  const range = (configJson as { initializer_range?: unknown }).initializer_range;
  const std = typeof range === 'number' && range > 0 ? range : 0.02;
  const normal = gaussianStream(seed);
  const tensors: TensorToWrite[] = [];
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const kind = initKind(name, shape);
    if (kind === 'ones') data.fill(1);
    else if (kind === 'normal') for (let i = 0; i < n; i++) data[i] = std * normal();
    tensors.push({ name, dtype: 'BF16', shape, data });
  }
  return tensors;
}

/** The bytes of model.safetensors for the config.json in `configDir` (default public/nano). */
export function makeNanoWeights(configDir = NANO_DIR, seed = NANO_WEIGHTS_SEED): Uint8Array {
  const configJson: unknown = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'));
  return writeSafetensors(nanoWeightTensors(configJson, seed), { format: 'pt' });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = resolve(process.argv[2] ?? NANO_DIR);
  mkdirSync(outDir, { recursive: true });
  const bytes = makeNanoWeights();
  const path = join(outDir, NANO_WEIGHTS_FILE);
  writeFileSync(path, bytes);
  process.stdout.write(`wrote ${path} (${bytes.byteLength} bytes)\n`);
}
