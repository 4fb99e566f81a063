// Attention for generation: one new query row per sequence against that sequence's cached keys and
// values (grouped-query heads, online softmax). The cache holds each sequence's keys up to its own
// length, so no causal mask is needed. Not differentiable: nothing is recorded on the tape. CPU adapters
// get a subgroup kernel without workgroup barriers, as attention() does. ropeAttendDecode is a decode
// step's RoPE, cache write and attention, in one dispatch on CPU adapters.
import code from '../../../kernels/attention/attention_decode.wgsl?raw';
import ropeSgCode from '../../../kernels/attention/attention_decode_rope_sg.wgsl?raw';
import sgCode from '../../../kernels/attention/attention_decode_sg.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { type AttentionPath, attentionKernels } from './attention.ts';
import { checkRopeIntoCache, ropeIntoCache } from './rope.ts';

export const attentionDecodeKernel = defineKernel('attention/attention_decode', code);
export const attentionDecodeSgKernel = defineKernel('attention/attention_decode_sg', sgCode);
export const attentionDecodeRopeSgKernel = defineKernel('attention/attention_decode_rope_sg', ropeSgCode);

const WG = 64;
/** Largest head dim: WG invocations hold 4 value columns each. */
const MAX_D = 4 * WG;

export interface AttentionDecodeOptions {
  /** Multiplies q . k; default 1 / sqrt(head dim). */
  scale?: number;
  /** ropeAttendDecode: `at` already on the GPU (u32 [rows]), so that the layers of a step share one. */
  positions?: Tensor;
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

/** Head dim and query heads per kv head that attention_decode_rope_sg.wgsl holds at most. */
const ROPE_SG_MAX_D = 128;
const ROPE_SG_MAX_RATIO = 8;

/**
 * ropeIntoCache then attentionDecode over each row's positions [0, at[r]]: q [rows, Hq, D], k and v
 * [rows, Hkv, D] unrotated, table [rows, D] -> [rows, Hq, D], the caches written at at[r]. On CPU adapters
 * one dispatch does it all, each kv head's cached rows loaded once for its query heads; elsewhere (or
 * for shapes that kernel does not hold) the two ops run.
 */
export function ropeAttendDecode(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  table: Tensor,
  caches: { keys: Tensor; values: Tensor },
  at: ArrayLike<number>,
  opts: AttentionDecodeOptions = {},
): Tensor {
  const {
    rows,
    qHeads,
    kvHeads,
    headDim: D,
    maxLen,
  } = checkRopeIntoCache('ropeAttendDecode', q, k, v, table, caches, at);
  const ratio = kvHeads > 0 ? qHeads / kvHeads : 0;
  const fused =
    kvHeads > 0 &&
    Number.isInteger(ratio) &&
    ratio <= ROPE_SG_MAX_RATIO &&
    D <= ROPE_SG_MAX_D &&
    gpu.device.limits.maxStorageBuffersPerShaderStage >= 8 &&
    attentionKernels(gpu, opts.path, D, 'ropeAttendDecode') === 'subgroup';
  if (!fused) {
    const rotated = ropeIntoCache(gpu, q, k, v, table, caches, at);
    try {
      return attentionDecode(
        gpu,
        rotated,
        caches.keys,
        caches.values,
        Array.from(at, (n) => n + 1),
        opts,
      );
    } finally {
      rotated.dispose();
    }
  }
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`ropeAttendDecode: scale ${scale} is not finite`);
  const out = gpu.empty(q.shape);
  if (rows === 0) return out;
  const positions = opts.positions ?? gpu.tensor(Uint32Array.from(at), [rows], 'u32');
  if (positions.dtype !== 'u32' || positions.size !== rows)
    throw new ShapeError(
      `ropeAttendDecode: positions must be u32 [${rows}], got ${positions.dtype} [${positions.shape}]`,
    );
  gpu.dispatch({
    kernel: attentionDecodeRopeSgKernel,
    variant: { overrides: { D, RATIO: ratio } },
    params: new Params().u32(rows).u32(kvHeads).u32(maxLen).f32(scale).bytes(),
    bindings: [table, q, k, v, positions, caches.keys, caches.values, out],
    workgroups: [rows, kvHeads],
  });
  if (positions !== opts.positions) positions.dispose();
  return out;
}
