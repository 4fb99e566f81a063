// Matmul benchmark: our kernel against onnxruntime-web's MatMul on its WebGPU EP (same adapter,
// GPU-resident inputs and outputs on both sides) and on its wasm EP, at square and Qwen2-VL-2B MLP shapes;
// ours also with B in f16 (weights as `--weight-dtype f16` loads them) where the adapter has shader-f16.
import type { Gpu } from '../src/gpu/context.ts';
import { matmul } from '../src/gpu/ops/matmul.ts';
import type { DType } from '../src/gpu/tensor.ts';
import { filled } from './fill.ts';
import { ortWasmMatmul, ortWebgpuMatmul } from './ort.ts';
import { againstOrt, ort } from './peer.ts';
import { gflops, measureQueued, type Queued } from './timing.ts';

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

/** Our matmul on fresh inputs, as a queued kernel; `dispose` frees its tensors. */
function ours(
  gpu: Gpu,
  m: number,
  k: number,
  n: number,
  weights: DType = 'f32',
): Queued & { dispose(): void } {
  const a = gpu.tensor(filled(m * k, 1), [m, k]);
  const b = gpu.tensor(filled(k * n, 2), [k, n], weights);
  const c = gpu.empty([m, n]);
  return {
    queue: () => void matmul(gpu, a, b, { out: c }),
    wait: () => gpu.sync(),
    dispose: () => {
      for (const x of [a, b, c]) x.dispose();
    },
  };
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
    const f32 = ours(gpu, s.m, s.k, s.n);
    let versus: { ours: number; theirs: number | null };
    try {
      versus = await againstOrt(f32, () => ortWebgpuMatmul(gpu.device, s.m, s.k, s.n), flops, runs, log);
    } finally {
      f32.dispose();
    }
    let f16: number | null = null;
    if (gpu.hasF16) {
      const side = ours(gpu, s.m, s.k, s.n, 'f16');
      try {
        f16 = gflops(flops, (await measureQueued(side.queue, side.wait, { runs })).medianMs);
      } finally {
        side.dispose();
      }
    }
    const row: MatmulRow = {
      ...s,
      ours_gflops: versus.ours,
      ours_f16_gflops: f16,
      ort_webgpu_gflops: versus.theirs,
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
