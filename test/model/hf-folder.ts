// Test helper: writes a random Qwen-VL model into a temp folder in the HF layout (config.json plus
// model.safetensors, or model-0000N-of-0000M.safetensors shards with model.safetensors.index.json), with
// seeded values (bf16 or f32) for every tensor parameterShapes lists, or a chosen subset. Returns the
// values as stored (bf16-rounded by arithmetic here, independently of src/model/half.ts) for references.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ModelConfig,
  type ParameterNaming,
  parameterShapes,
  parseModelConfig,
} from '../../src/model/config.ts';
import { writeSafetensorsFile } from '../../src/model/safetensors-node.ts';
import type { TensorToWrite } from '../../src/model/safetensors-write.ts';
import { rng } from '../helpers.ts';

export interface WriteModelOptions {
  seed?: number;
  /** Storage dtype (default BF16, as published checkpoints). */
  dtype?: 'BF16' | 'F32';
  /** Number of weight files: 1 writes model.safetensors, more write shards and an index (default 1). */
  shards?: number;
  /** Tensor naming in the files (default legacy: `model.*`, `visual.*`). */
  naming?: ParameterNaming;
  /** Writes only the tensors (canonical names) it accepts. */
  filter?: (name: string) => boolean;
  /** Tensors to write with another shape than parameterShapes gives, or extra ones (canonical names). */
  shapes?: Record<string, number[]>;
  /** Leave config.json out. */
  noConfig?: boolean;
}

export interface WrittenModel {
  dir: string;
  config: ModelConfig;
  /** Canonical name -> the values as stored (bf16-rounded for BF16). */
  values: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  remove(): Promise<void>;
}

const POW2 = Float64Array.from({ length: 400 }, (_, i) => 2 ** (i - 200));

/**
 * Nearest bf16 value (ties to even) by arithmetic, for finite inputs of magnitude 2^-150 .. 2^150:
 * with 2^e <= |x| < 2^(e+1), adding and removing 2^(e+45) rounds |x| (in float64, half to even) to a
 * multiple of 2^(e-7), which keeps 8 significant bits.
 */
export function roundToBf16(x: number): number {
  const ax = Math.abs(x);
  if (ax === 0 || !Number.isFinite(x)) return x;
  let e = Math.floor(Math.log2(ax));
  if (POW2[e + 200]! > ax) e--;
  else if (POW2[e + 201]! <= ax) e++;
  const c = POW2[e + 245]!;
  const r = ax + c - c;
  return x < 0 ? -r : r;
}

/**
 * Values of one tensor: matrices uniform with variance 1/fan_in (the embedding 1/hidden), biases
 * +-0.1, norm weights 1 +- 0.1.
 */
function randomValues(name: string, shape: number[], next: () => number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const u = () => next() * 2 - 1;
  if (shape.length === 1) {
    const isNormWeight = /(norm\d?|ln_q)\.weight$/.test(name);
    for (let i = 0; i < n; i++) out[i] = (isNormWeight ? 1 : 0) + 0.1 * u();
  } else {
    const fanIn = n / shape[0]!;
    const bound = Math.sqrt(3 / fanIn);
    for (let i = 0; i < n; i++) out[i] = bound * u();
  }
  return out;
}

function nestedName(name: string, naming: ParameterNaming): string {
  if (naming === 'legacy') return name;
  if (name.startsWith('model.')) return `model.language_model.${name.slice('model.'.length)}`;
  if (name.startsWith('visual.')) return `model.${name}`;
  return name;
}

/** Writes `configJson` and random weights for it into a new temp folder. */
export async function writeHfModel(
  configJson: Record<string, unknown>,
  options: WriteModelOptions = {},
): Promise<WrittenModel> {
  const config = parseModelConfig(configJson);
  const dtype = options.dtype ?? 'BF16';
  const naming = options.naming ?? 'legacy';
  const filter = options.filter ?? (() => true);
  const next = rng(options.seed ?? 1);
  const dir = await mkdtemp(join(tmpdir(), 'vgrpo-hf-'));
  const all = { ...parameterShapes(config), ...options.shapes };
  const values = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const tensors: TensorToWrite[] = [];
  for (const [name, shape] of Object.entries(all)) {
    if (!filter(name)) continue;
    const v = randomValues(name, shape, next);
    let data: Float32Array | Uint16Array = v;
    if (dtype === 'BF16') {
      const bits = new Uint16Array(v.length);
      const u32 = new Uint32Array(v.buffer);
      for (let i = 0; i < v.length; i++) {
        v[i] = roundToBf16(v[i]!);
        // v[i] is a bf16 value now: its f32 bits end in 16 zero bits.
        bits[i] = u32[i]! >>> 16;
      }
      data = bits;
    }
    values.set(name, v);
    shapes.set(name, shape);
    tensors.push({ name: nestedName(name, naming), dtype, shape, data });
  }

  if (!options.noConfig) await writeFile(join(dir, 'config.json'), JSON.stringify(configJson, null, 2));
  const shards = options.shards ?? 1;
  if (shards <= 1) {
    await writeSafetensorsFile(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  } else {
    const pad = (i: number) => String(i).padStart(5, '0');
    const weightMap: Record<string, string> = {};
    const per = Math.ceil(tensors.length / shards);
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const part = tensors.slice(s * per, (s + 1) * per);
      const file = `model-${pad(s + 1)}-of-${pad(shards)}.safetensors`;
      for (const t of part) {
        weightMap[t.name] = file;
        total += t.data.length * (dtype === 'BF16' ? 2 : 4);
      }
      await writeSafetensorsFile(join(dir, file), part, { format: 'pt' });
    }
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
    );
  }
  return { dir, config, values, shapes, remove: () => rm(dir, { recursive: true, force: true }) };
}
