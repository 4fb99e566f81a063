// Attention for generation: one new query row per sequence against that sequence's cached keys and
// values (grouped-query heads, online softmax). The cache holds each sequence's keys up to its own
// length, so no causal mask is needed. Not differentiable: nothing is recorded on the tape. CPU adapters
// get a subgroup kernel without workgroup barriers, as attention() does.
import code from '../../../kernels/attention/attention_decode.wgsl?raw';
import sgCode from '../../../kernels/attention/attention_decode_sg.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { type AttentionPath, attentionKernels } from './attention.ts';

export const attentionDecodeKernel = defineKernel('attention/attention_decode', code);
export const attentionDecodeSgKernel = defineKernel('attention/attention_decode_sg', sgCode);

const WG = 64;
/** Largest head dim: WG invocations hold 4 value columns each. */
const MAX_D = 4 * WG;

export interface AttentionDecodeOptions {
  /** Multiplies q . k; default 1 / sqrt(head dim). */
  scale?: number;
  /** Force a kernel (tests, benchmarks); default 'auto', as attention() chooses. */
  path?: AttentionPath;
}

/**
 * q [B, Hq, D]; kCache and vCache [B, maxLen, Hkv, D] (Hq a multiple of Hkv; query head h reads kv
 * head floor(h * Hkv / Hq)); row b attends cached positions [0, lengths[b]) -> [B, Hq, D]. A row of
 * length 0 gets zeros.
 */
export function attentionDecode(
  gpu: Gpu,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  lengths: ArrayLike<number>,
  opts: AttentionDecodeOptions = {},
): Tensor {
  for (const [name, t] of [
    ['q', q],
    ['kCache', kCache],
    ['vCache', vCache],
  ] as const) {
    if (t.dtype !== 'f32') throw new ShapeError(`attentionDecode: ${name} must be f32, got ${t.dtype}`);
  }
  if (q.shape.length !== 3) throw new ShapeError(`attentionDecode: q must be [B, Hq, D], got [${q.shape}]`);
  if (kCache.shape.length !== 4)
    throw new ShapeError(`attentionDecode: kCache must be [B, maxLen, Hkv, D], got [${kCache.shape}]`);
  const [B, Hq, D] = q.shape as [number, number, number];
  const [Bk, maxLen, Hkv, Dk] = kCache.shape as [number, number, number, number];
  if (Bk !== B || Dk !== D || vCache.shape.join() !== kCache.shape.join())
    throw new ShapeError(
      `attentionDecode: q [${q.shape}], kCache [${kCache.shape}], vCache [${vCache.shape}] must share B and D, ` +
        'and the caches their shape',
    );
  if (Hq === 0 || Hkv === 0 || D === 0)
    throw new ShapeError(`attentionDecode: empty heads in q [${q.shape}], kCache [${kCache.shape}]`);
  if (Hq % Hkv !== 0)
    throw new ShapeError(`attentionDecode: ${Hq} query heads are not a multiple of ${Hkv} kv heads`);
  if (D > MAX_D) throw new ShapeError(`attentionDecode: head dim ${D} is over the supported ${MAX_D}`);
  if (lengths.length !== B)
    throw new ShapeError(`attentionDecode: ${lengths.length} lengths for ${B} query rows`);
  for (let b = 0; b < B; b++) {
    const n = lengths[b]!;
    if (!Number.isInteger(n) || n < 0 || n > maxLen)
      throw new ShapeError(`attentionDecode: length ${n} of row ${b} is outside [0, ${maxLen}]`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`attentionDecode: scale ${scale} is not finite`);

  const path = attentionKernels(gpu, opts.path, D, 'attentionDecode');

  const out = gpu.empty([B, Hq, D]);
  if (B === 0) return out;
  const lens = gpu.tensor(lengths, [B], 'u32');
  gpu.dispatch({
    kernel: path === 'subgroup' ? attentionDecodeSgKernel : attentionDecodeKernel,
    variant: { overrides: path === 'subgroup' ? { D } : { D, WG } },
    params: new Params().u32(B).u32(Hq).u32(Hkv).u32(maxLen).f32(scale).bytes(),
    bindings: [q, kCache, vCache, lens, out],
    workgroups: [B, Hq],
  });
  lens.dispose();
  return out;
}
