// Loads a Qwen-VL checkpoint from an HF-layout folder onto the GPU: config.json -> ModelConfig, the
// safetensors weights (one file or shards with an index) checked by name and shape against the config,
// then uploaded tensor by tensor and, within a tensor, 64 MiB of rows at a time (F32 / F16 / BF16 -> f32, or
// matrices to f16 when asked and the adapter has shader-f16), so the host holds one slab at a time; a
// tensor over the device's maxBufferSize is stored in row blocks (RowBlocks). Works through a SourceOpener, so
// the same code loads a dropped folder in the browser and a directory in Node.
import { markTrainable } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { SourceOpener } from './byte-source.ts';
import { type Checkpoint, matchTensors, openCheckpoint } from './checkpoint.ts';
import { type ModelConfig, parameterShapes, parseModelConfig } from './config.ts';
import { CheckpointError } from './errors.ts';
import type { Weights } from './weights.ts';

export const CONFIG_FILE = 'config.json';

export type WeightDtype = 'f32' | 'f16';

export interface LoadModelOptions {
  /**
   * Storage of the weight matrices on the GPU (default f32). f16 halves their memory; it needs the
   * adapter's shader-f16 feature, and falls back to f32 without it. Norm weights and biases stay f32.
   */
  weightDtype?: WeightDtype;
}

export interface LoadedModel {
  config: ModelConfig;
  /** Canonical HF name (`model.*`, `visual.*`, `lm_head.weight`) -> tensor; not trainable. */
  weights: Weights;
  /** What the matrices were stored as (f32 when f16 was asked for but the adapter lacks it). */
  weightDtype: WeightDtype;
}

/** Dtypes the loader converts (the ones Qwen-VL checkpoints are published in). */
const LOADABLE = new Set(['F32', 'F16', 'BF16']);

/** Reads and parses config.json through `open`; CheckpointError when the folder has none. */
export async function readModelConfig(open: SourceOpener): Promise<ModelConfig> {
  const source = await open(CONFIG_FILE);
  if (!source)
    throw new CheckpointError(
      CONFIG_FILE,
      `no ${CONFIG_FILE} found; choose the checkpoint folder (it holds config.json and the model*.safetensors files)`,
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8').decode(await source.read(0, source.size));
  } finally {
    await source.close?.();
  }
  return parseModelConfig(text);
}

/**
 * Uploads the tensors `names` (canonical or stored names) of an opened checkpoint, one at a time.
 * `f16(name)` says which go to f16 (only honoured when the adapter has shader-f16). The tensors are
 * kept out of any open scope and marked non-trainable; on an error the ones already uploaded are freed.
 */
/** Host memory a tensor is read through, at most (as f32): large tensors stream a slab of rows at a time. */
const SLAB_BYTES = 64 * 2 ** 20;

export async function uploadTensors(
  gpu: Gpu,
  checkpoint: Checkpoint,
  names: Iterable<string>,
  f16: (name: string) => boolean = () => false,
): Promise<Weights> {
  const wanted = [...names].map((name) => {
    const t = checkpoint.get(name);
    if (!t) throw new CheckpointError(undefined, `the checkpoint has no tensor '${name}'`);
    if (!LOADABLE.has(t.dtype))
      throw new CheckpointError(
        t.shard,
        `tensor '${t.name}' in ${t.shard} is ${t.dtype}; only F32, F16 and BF16 weights can be loaded ` +
          '(convert the checkpoint, e.g. save it again with torch_dtype bfloat16)',
      );
    return t;
  });
  const weights: Weights = new Map();
  try {
    for (const t of wanted) {
      const dtype = gpu.hasF16 && f16(t.canonical) ? 'f16' : 'f32';
      const tensor: Tensor = gpu.keep(gpu.rowsTensor(t.shape, dtype));
      weights.set(t.canonical, markTrainable(tensor, false));
      const rows = t.shape[0] ?? 1;
      const perRow = t.shape.slice(1).reduce((a, b) => a * b, 1);
      // An even number of rows keeps every f16 slab on a 4-byte boundary.
      const slab = Math.max(2, Math.floor(SLAB_BYTES / (8 * perRow)) * 2);
      for (let row = 0; row < rows; row += slab) {
        const n = Math.min(slab, rows - row);
        const values =
          t.shape.length === 0
            ? await checkpoint.readF32(t.name)
            : await checkpoint.readF32Rows(t.name, row, n);
        gpu.writeRows(tensor, row, values);
      }
    }
    // Surfaces an out-of-memory or device loss now rather than at the first forward.
    await gpu.sync();
  } catch (error) {
    for (const w of weights.values()) w.dispose();
    throw error;
  }
  return weights;
}

/**
 * Loads config.json and every weight of the checkpoint in `open`'s folder. Throws CheckpointError for
 * a missing config.json or weights file, ConfigError for an unsupported config, TensorMismatchError
 * naming every missing, unexpected or mis-shaped tensor, SafetensorsError for a corrupt file. A stored
 * lm_head.weight of a tied model is accepted (checked for shape) and not uploaded: the embedding serves.
 */
export async function loadModel(
  gpu: Gpu,
  open: SourceOpener,
  options: LoadModelOptions = {},
): Promise<LoadedModel> {
  const config = await readModelConfig(open);
  const checkpoint = await openCheckpoint(open);
  try {
    const expected = parameterShapes(config);
    const tied = config.text.tieWordEmbeddings;
    const storedHead = checkpoint.get('lm_head.weight') !== undefined;
    const check = { ...expected };
    if (tied && storedHead) check['lm_head.weight'] = [config.text.vocabSize, config.text.hiddenSize];
    matchTensors(checkpoint, check);

    const half = options.weightDtype === 'f16' && gpu.hasF16;
    const shapes = new Map(Object.entries(expected));
    // Matrices (rank >= 2) may go to f16; norm weights and biases (rank 1) stay f32.
    const weights = await uploadTensors(gpu, checkpoint, shapes.keys(), (name) => {
      const shape = shapes.get(name);
      return half && shape !== undefined && shape.length >= 2;
    });
    return { config, weights, weightDtype: half ? 'f16' : 'f32' };
  } finally {
    await checkpoint.close();
  }
}
