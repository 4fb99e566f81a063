// Matmul benchmark: our kernel against onnxruntime-web's MatMul on its WebGPU EP (same adapter,
// GPU-resident inputs and outputs on both sides) and on its wasm EP, at square and Qwen2-VL-2B MLP shapes;
// ours also with B in f16 (weights as `--weight-dtype f16` loads them) where the adapter has shader-f16.
import type { Gpu } from '../src/gpu/context.ts';
import { matmul } from '../src/gpu/ops/matmul.ts';
import type { DType } from '../src/gpu/tensor.ts';
import { filled } from './fill.ts';
import { type OrtMatmulBench, ortWasmMatmul, ortWebgpuMatmul } from './ort.ts';
import { gflops, measureQueued } from './timing.ts';

export interface MatmulRow {
  name: string;
  m: number;
  k: number;
  n: number;
  ours_gflops: number;
  /** B (the weights) in f16, A and C f32; null without shader-f16. */
  ours_f16_gflops: number | null;
  ort_webgpu_gflops: number | null;
  ort_wasm_gflops: number | null;
}

export const MATMUL_SHAPES: { name: string; m: number; k: number; n: number }[] = [
  { name: 'square-256', m: 256, k: 256, n: 256 },
  { name: 'square-512', m: 512, k: 512, n: 512 },
  { name: 'square-1024', m: 1024, k: 1024, n: 1024 },
  { name: 'square-2048', m: 2048, k: 2048, n: 2048 },
  { name: 'qwen2vl-2b-mlp-up', m: 512, k: 1536, n: 8960 },
  { name: 'qwen2vl-2b-mlp-down', m: 512, k: 8960, n: 1536 },
];

async function ours(
  gpu: Gpu,
  m: number,
  k: number,
  n: number,
  runs: number,
  weights: DType = 'f32',
): Promise<number> {
  const a = gpu.tensor(filled(m * k, 1), [m, k]);
  const b = gpu.tensor(filled(k * n, 2), [k, n], weights);
  const c = gpu.empty([m, n]);
  try {
    const t = await measureQueued(
      () => void matmul(gpu, a, b, { out: c }),
      () => gpu.sync(),
      { runs },
    );
    return gflops(2 * m * k * n, t.medianMs);
  } finally {
    for (const x of [a, b, c]) x.dispose();
  }
}

/** GFLOP/s of an onnxruntime-web runner, or null (logged) when ORT cannot build or run it. */
export async function ort(
  make: () => Promise<OrtMatmulBench>,
  flops: number,
  runs: number,
  log: (s: string) => void,
): Promise<number | null> {
  try {
    const bench = await make();
    try {
      return gflops(
        flops,
        (
          await measureQueued(
            () => bench.run(),
            () => bench.wait(),
            { runs },
          )
        ).medianMs,
      );
    } finally {
      await bench.dispose();
    }
  } catch (e) {
    log(`  onnxruntime-web failed: ${(e as Error).message}`);
    return null;
  }
}

export async function benchMatmul(
  gpu: Gpu,
  { runs = 5, only }: { runs?: number; only?: RegExp } = {},
  log: (s: string) => void = () => {},
): Promise<MatmulRow[]> {
  const rows: MatmulRow[] = [];
  for (const s of MATMUL_SHAPES) {
    if (only && !only.test(s.name)) continue;
    const flops = 2 * s.m * s.k * s.n;
    const row: MatmulRow = {
      ...s,
      ours_gflops: await ours(gpu, s.m, s.k, s.n, runs),
      ours_f16_gflops: gpu.hasF16 ? await ours(gpu, s.m, s.k, s.n, runs, 'f16') : null,
      ort_webgpu_gflops: await ort(() => ortWebgpuMatmul(gpu.device, s.m, s.k, s.n), flops, runs, log),
      ort_wasm_gflops: await ort(() => ortWasmMatmul(s.m, s.k, s.n), flops, runs, log),
    };
    log(
      `  ${s.name.padEnd(22)} ours ${row.ours_gflops.toFixed(2)}  ours-f16 ${row.ours_f16_gflops?.toFixed(2) ?? '-'}  ort-webgpu ${row.ort_webgpu_gflops?.toFixed(2) ?? '-'}` +
        `  ort-wasm ${row.ort_wasm_gflops?.toFixed(2) ?? '-'} GFLOP/s`,
    );
    rows.push(row);
  }
  return rows;
}
