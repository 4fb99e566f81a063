// Attention forward against a peer: our attention() and onnxruntime-web's MultiHeadAttention contrib op
// (its WebGPU EP, which carries its flash-attention path) at Qwen2-VL-2B's head shape, causal, both
// GPU-resident (no host transfer in the timed part) and timed run for run in turn. MultiHeadAttention
// has one head count for queries, keys and values, so both sides run 12 query and 12 kv heads. FLOPs:
// 2 S^2 x head dim x heads (a causal forward, half of the 4 S^2 D H of the two products).
import { noGrad } from '../src/gpu/autograd.ts';
import type { Gpu } from '../src/gpu/context.ts';
import { attention } from '../src/gpu/ops/attention.ts';
import { filled } from './fill.ts';
import { ortWebgpuAttention } from './ort.ts';
import { againstOrt } from './peer.ts';

export interface AttentionRow {
  name: string;
  seq: number;
  heads: number;
  head_dim: number;
  causal: boolean;
  ours_gflops: number;
  ort_webgpu_gflops: number | null;
}

export const ATTENTION_SHAPES = [
  { name: 'attention-fwd-qwen2vl-2b-s512', seq: 512, heads: 12, headDim: 128 },
  { name: 'attention-fwd-qwen2vl-2b-s2048', seq: 2048, heads: 12, headDim: 128 },
];

export async function benchAttention(
  gpu: Gpu,
  { runs = 5, only }: { runs?: number; only?: RegExp } = {},
  log: (s: string) => void = () => {},
): Promise<AttentionRow[]> {
  const rows: AttentionRow[] = [];
  for (const s of ATTENTION_SHAPES) {
    if (only && !only.test(s.name)) continue;
    const shape = [s.seq, s.heads, s.headDim];
    const n = s.seq * s.heads * s.headDim;
    const [q, k, v] = [1, 2, 3].map((seed) => gpu.tensor(filled(n, seed), shape));
    const flops = 2 * s.seq * s.seq * s.headDim * s.heads;
    let versus: { ours: number; theirs: number | null };
    try {
      versus = await againstOrt(
        {
          queue: () => noGrad(gpu, () => attention(gpu, q!, k!, v!, { causal: true })).dispose(),
          wait: () => gpu.sync(),
        },
        () => ortWebgpuAttention(gpu.device, s.seq, s.heads, s.headDim, true),
        flops,
        runs,
        log,
      );
    } finally {
      for (const x of [q, k, v]) x!.dispose();
    }
    const { ours, theirs } = versus;
    const row: AttentionRow = {
      name: s.name,
      seq: s.seq,
      heads: s.heads,
      head_dim: s.headDim,
      causal: true,
      ours_gflops: ours,
      ort_webgpu_gflops: theirs,
    };
    log(
      `  ${s.name.padEnd(32)} ours ${ours.toFixed(2)}  ort-webgpu ${theirs === null ? 'failed' : theirs.toFixed(2)} GFLOP/s`,
    );
    rows.push(row);
  }
  return rows;
}
