// Op and layer benchmarks in tokens/s: attention forward + backward, RMSNorm forward + backward, and one
// Qwen2 decoder layer (RMSNorm, q/k/v/o, RoPE, causal GQA attention, SwiGLU MLP, residuals) forward +
// backward with full-parameter gradients, at a nano-sized shape and at Qwen2-VL-2B's layer shape.
import { markTrainable, Tape } from '../src/gpu/autograd.ts';
import type { Gpu } from '../src/gpu/context.ts';
import { swiglu } from '../src/gpu/ops/activations.ts';
import { add } from '../src/gpu/ops/add.ts';
import { attention } from '../src/gpu/ops/attention.ts';
import { reshape } from '../src/gpu/ops/layout.ts';
import { linear } from '../src/gpu/ops/linear.ts';
import { rmsNorm } from '../src/gpu/ops/rmsnorm.ts';
import { applyRope, ropeTable } from '../src/gpu/ops/rope.ts';
import { ropeAngles1d } from '../src/gpu/rope-angles.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { filled } from './fill.ts';
import { measure } from './timing.ts';

export interface LayerShape {
  name: string;
  hidden: number;
  heads: number;
  kvHeads: number;
  mlp: number;
  seq: number;
}

export const LAYER_SHAPES: LayerShape[] = [
  { name: 'nano', hidden: 128, heads: 4, kvHeads: 2, mlp: 512, seq: 256 },
  { name: 'qwen2vl-2b-s512', hidden: 1536, heads: 12, kvHeads: 2, mlp: 8960, seq: 512 },
  { name: 'qwen2vl-2b-s2048', hidden: 1536, heads: 12, kvHeads: 2, mlp: 8960, seq: 2048 },
];

export interface LayerRow {
  name: string;
  op: 'attention' | 'rmsnorm' | 'decoder_layer';
  seq: number;
  hidden: number;
  /** Forward + backward. */
  tokens_per_s: number;
  ms: number;
  runs: number;
  /** Attention rows: causal forward + backward at 7 S^2 D Hq FLOP (flash-attention-2's count). */
  gflops?: number;
}

function param(gpu: Gpu, shape: number[], seed: number, scale = 0.02): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return markTrainable(
    gpu.tensor(
      filled(n, seed).map((v) => v * scale),
      shape,
    ),
  );
}

/** Runs forward under a tape and backward from a random upstream gradient (made on the first call and
 *  kept in `seeds`, so that filling it on the CPU stays out of the timing); waits for the GPU. */
async function fwdBwd(gpu: Gpu, forward: () => Tensor, seeds: Map<string, Tensor>): Promise<void> {
  const tape = new Tape(gpu);
  const y = gpu.scope(() => tape.run(forward));
  const key = y.shape.join('x');
  let seed = seeds.get(key);
  if (!seed) {
    seed = gpu.tensor(filled(y.size, 7), y.shape);
    seeds.set(key, seed);
  }
  const grads = tape.backward(y, seed);
  for (const g of grads.values()) g.dispose();
  y.dispose();
  tape.dispose();
  await gpu.sync();
}

export async function benchLayers(
  gpu: Gpu,
  { only, runs = 5 }: { only?: RegExp; runs?: number } = {},
  log: (s: string) => void = () => {},
): Promise<LayerRow[]> {
  const rows: LayerRow[] = [];
  for (const s of LAYER_SHAPES) {
    const hd = s.hidden / s.heads;
    const n = s.seq <= 512 ? runs : Math.max(3, Math.floor(runs / 2));
    const timed = async (op: LayerRow['op'], forward: () => Tensor, flop?: number) => {
      const name = `${op}-${s.name}`;
      if (only && !only.test(name)) return;
      const seeds = new Map<string, Tensor>();
      const t = await measure(() => fwdBwd(gpu, forward, seeds), { warmup: 1, runs: n });
      for (const seed of seeds.values()) seed.dispose();
      const row: LayerRow = {
        name,
        op,
        seq: s.seq,
        hidden: s.hidden,
        tokens_per_s: s.seq / (t.medianMs / 1000),
        ms: t.medianMs,
        runs: n,
      };
      if (flop) row.gflops = flop / (t.medianMs * 1e6);
      log(
        `  ${name.padEnd(34)} ${row.tokens_per_s.toFixed(1).padStart(9)} tokens/s  (${row.ms.toFixed(1)} ms)` +
          (row.gflops ? `  ${row.gflops.toFixed(2)} GFLOP/s` : ''),
      );
      rows.push(row);
    };

    const x = param(gpu, [s.seq, s.hidden], 1, 1);
    const norm = param(gpu, [s.hidden], 2, 1);
    const q = param(gpu, [s.seq, s.heads, hd], 3, 1);
    const k = param(gpu, [s.seq, s.kvHeads, hd], 4, 1);
    const v = param(gpu, [s.seq, s.kvHeads, hd], 5, 1);
    await timed('rmsnorm', () => rmsNorm(gpu, x, norm));
    await timed(
      'attention',
      () => attention(gpu, q, k, v, { causal: true }),
      7 * s.seq * s.seq * hd * s.heads,
    );

    const w = {
      inNorm: norm,
      q: param(gpu, [s.heads * hd, s.hidden], 10),
      qb: param(gpu, [s.heads * hd], 11),
      k: param(gpu, [s.kvHeads * hd, s.hidden], 12),
      kb: param(gpu, [s.kvHeads * hd], 13),
      v: param(gpu, [s.kvHeads * hd, s.hidden], 14),
      vb: param(gpu, [s.kvHeads * hd], 15),
      o: param(gpu, [s.hidden, s.heads * hd], 16),
      postNorm: param(gpu, [s.hidden], 17, 1),
      gate: param(gpu, [s.mlp, s.hidden], 18),
      up: param(gpu, [s.mlp, s.hidden], 19),
      down: param(gpu, [s.hidden, s.mlp], 20),
    };
    const table = ropeTable(
      gpu,
      ropeAngles1d(
        Array.from({ length: s.seq }, (_, i) => i),
        hd,
      ),
      hd,
    );
    await timed('decoder_layer', () => {
      const h = rmsNorm(gpu, x, w.inNorm);
      const qh = applyRope(gpu, reshape(gpu, linear(gpu, h, w.q, w.qb), [s.seq, s.heads, hd]), table);
      const kh = applyRope(gpu, reshape(gpu, linear(gpu, h, w.k, w.kb), [s.seq, s.kvHeads, hd]), table);
      const vh = reshape(gpu, linear(gpu, h, w.v, w.vb), [s.seq, s.kvHeads, hd]);
      const a = reshape(gpu, attention(gpu, qh, kh, vh, { causal: true }), [s.seq, s.hidden]);
      const x1 = add(gpu, x, linear(gpu, a, w.o));
      const h2 = rmsNorm(gpu, x1, w.postNorm);
      return add(gpu, x1, linear(gpu, swiglu(gpu, linear(gpu, h2, w.gate), linear(gpu, h2, w.up)), w.down));
    });
    for (const t of [x, q, k, v, table, ...Object.values(w)]) t.dispose();
  }
  return rows;
}
