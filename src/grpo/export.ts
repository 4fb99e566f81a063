// What a run exports for other tools, as named files in memory (the CLI writes them to a folder, the
// worker posts them to the page): a LoRA run's adapter in PEFT's layout, the full model with the adapter
// merged into a copy of the base weights (the weights being trained stay as they are), and the run's
// metrics as JSONL and CSV.
import { noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { axpy } from '../gpu/ops/axpy.ts';
import { matmul } from '../gpu/ops/matmul.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Lora } from '../model/lora.ts';
import { type TensorToWrite, writeSafetensors } from '../model/safetensors-write.ts';
import type { Weights } from '../model/weights.ts';

/** The non-weight files of an HF model folder that a merged export copies from the base model. */
export const MODEL_FILES: readonly string[] = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.json',
  'vocab.json',
  'merges.txt',
];

/** An export that this run cannot give; the message says what to export or change instead. */
export class ExportError extends Error {
  override name = 'ExportError';
}

export type ExportFiles = Record<string, Uint8Array>;

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** adapter_config.json and adapter_model.safetensors of a LoRA run. */
export async function adapterFiles(lora: Lora | undefined, baseModel: string): Promise<ExportFiles> {
  if (!lora)
    throw new ExportError(
      "this run fine-tunes every weight (use_peft false), so it has no adapter; export 'merged' for the " +
        'full model folder',
    );
  const peft = await lora.exportPeft({ baseModelNameOrPath: baseModel });
  return {
    'adapter_config.json': json(peft['adapter_config.json']),
    'adapter_model.safetensors': peft['adapter_model.safetensors'],
  };
}

/** W + scaling * B A in a new host array (the same kernels as Lora.merge, on a temporary copy of W). */
async function mergedCopy(gpu: Gpu, w: Tensor, A: Tensor, B: Tensor, scaling: number) {
  const copy = gpu.tensor(await gpu.read(w), w.shape);
  try {
    noGrad(gpu, () => {
      const delta = matmul(gpu, B, A);
      axpy(gpu, copy, delta, scaling);
      delta.dispose();
    });
    return await gpu.read(copy);
  } finally {
    copy.dispose();
  }
}

/**
 * model.safetensors (F32, HF names) of `weights` with `lora` merged in, when there is one. Merging
 * needs f32 weights: f16 ones were rounded on load, so the result would not be the trained model.
 */
export async function mergedWeightsFile(
  gpu: Gpu,
  weights: Weights,
  lora: Lora | undefined,
): Promise<Uint8Array> {
  const half = [...weights].find(([, t]) => t.dtype !== 'f32');
  if (half)
    throw new ExportError(
      `merging needs f32 weights and this run's are ${half[1].dtype} ('${half[0]}' and others); export ` +
        "'adapter' instead (load it on the base model with PEFT), or train with weight_dtype 'f32' to " +
        'export a merged model',
    );
  const adapters = new Map([...(lora?.adapters.values() ?? [])].map((ad) => [`${ad.module}.weight`, ad]));
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of weights) {
    const ad = lora && !lora.merged ? adapters.get(name) : undefined;
    const data = ad ? await mergedCopy(gpu, t, ad.A, ad.B, lora!.scaling) : await gpu.read(t);
    tensors.push({ name, dtype: 'F32', shape: [...t.shape], data });
  }
  return writeSafetensors(tensors, { format: 'pt' });
}

/** metrics.jsonl as CSV: one column per metric name seen, in first-seen order. */
export function metricsCsv(jsonl: string): string {
  const rows = jsonl
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return `${[columns.map(quote).join(','), ...rows.map((r) => columns.map((c) => quote(cell(r[c]))).join(','))].join('\n')}\n`;
}

/** metrics.jsonl and metrics.csv of a run's metrics lines. */
export function metricsFiles(jsonl: string): ExportFiles {
  const encode = (s: string) => new TextEncoder().encode(s);
  return { 'metrics.jsonl': encode(jsonl), 'metrics.csv': encode(metricsCsv(jsonl)) };
}
