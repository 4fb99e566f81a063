// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_: the L2 norm over all gradients and
// the coefficient min(1, max_norm / (norm + 1e-6)), computed and applied on the GPU with no host round
// trip. Gradients larger than the storage-binding limit are processed in binding-sized pieces.
import scaleByCode from '../../../kernels/elementwise/scale_by.wgsl?raw';
import gradNormCode from '../../../kernels/optim/grad_norm.wgsl?raw';
import sumsqCode from '../../../kernels/optim/sumsq_partial.wgsl?raw';
import type { Binding, Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const sumsqPartialKernel = defineKernel('optim/sumsq_partial', sumsqCode);
export const gradNormKernel = defineKernel('optim/grad_norm', gradNormCode);
export const scaleByKernel = defineKernel('elementwise/scale_by', scaleByCode);

const WG = 256;
const ITEMS = 8;
const PER_GROUP = WG * ITEMS;

/** A piece of a flat f32 tensor: elements [start, start + count). */
export interface Chunk {
  start: number;
  count: number;
}

/** Splits `n` f32 elements into pieces that each fit one storage binding at an aligned offset. */
export function flatChunks(gpu: Gpu, n: number): Chunk[] {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const maxBytes = Math.floor(gpu.maxBindingSize / align) * align;
  if (n * 4 <= gpu.maxBindingSize) return n === 0 ? [] : [{ start: 0, count: n }];
  if (maxBytes === 0)
    throw new ShapeError(`binding limit ${gpu.maxBindingSize} is below the offset alignment`);
  const per = maxBytes / 4;
  const out: Chunk[] = [];
  for (let start = 0; start < n; start += per) out.push({ start, count: Math.min(per, n - start) });
  return out;
}

/** The binding of one chunk of a tensor (the whole tensor when the chunk covers it). */
export function chunkBinding(t: Tensor, c: Chunk): Binding {
  if (c.start === 0 && c.count === t.size) return t;
  return { tensor: t, offset: c.start * 4, size: c.count * 4 };
}

export interface GradNorm {
  /** The total L2 norm of all gradients, [1]. */
  norm: Tensor;
  /** min(1, maxNorm / (norm + 1e-6)), or 1 without maxNorm, [1]; AdamW can take it as `gradScale`. */
  coef: Tensor;
}

function checkGrads(grads: readonly Tensor[], what: string): void {
  for (const g of grads)
    if (g.dtype !== 'f32') throw new ShapeError(`${what}: gradients must be f32, got ${g.dtype}`);
}

/**
 * The total L2 norm over all gradients and the clip coefficient for `maxNorm` (no clipping when
 * undefined). Leaves the gradients untouched.
 */
export function gradNorm(gpu: Gpu, grads: readonly Tensor[], maxNorm?: number): GradNorm {
  checkGrads(grads, 'gradNorm');
  if (maxNorm !== undefined && !(maxNorm > 0 && Number.isFinite(maxNorm)))
    throw new ShapeError(`gradNorm: maxNorm must be a positive finite number, got ${maxNorm}`);
  const pieces: { g: Tensor; c: Chunk; base: number; groups: number }[] = [];
  let count = 0;
  for (const g of grads) {
    for (const c of flatChunks(gpu, g.size)) {
      const groups = Math.ceil(c.count / PER_GROUP);
      pieces.push({ g, c, base: count, groups });
      count += groups;
    }
  }
  const norm = gpu.empty([1]);
  const coef = gpu.empty([1]);
  const partials = gpu.empty([Math.max(1, count)]);
  try {
    for (const { g, c, base, groups } of pieces) {
      gpu.dispatch({
        kernel: sumsqPartialKernel,
        variant: { overrides: { WG, ITEMS } },
        params: new Params().u32(c.count).u32(base).bytes(),
        bindings: [chunkBinding(g, c), partials],
        workgroups: gpu.grid(groups),
      });
    }
    gpu.dispatch({
      kernel: gradNormKernel,
      variant: { overrides: { WG } },
      params: new Params()
        .u32(count)
        .u32(maxNorm === undefined ? 0 : 1)
        .f32(maxNorm ?? 1)
        .bytes(),
      bindings: [partials, norm, coef],
      workgroups: [1],
    });
  } finally {
    partials.dispose();
  }
  return { norm, coef };
}

/** Multiplies every element of each tensor, in place, by the scalar held in `s` ([1]). */
export function scaleByScalar(gpu: Gpu, tensors: readonly Tensor[], s: Tensor): void {
  checkGrads(tensors, 'scaleByScalar');
  if (s.size !== 1 || s.dtype !== 'f32')
    throw new ShapeError(`scaleByScalar: the scalar must be one f32, got [${s.shape}] ${s.dtype}`);
  for (const t of tensors) {
    for (const c of flatChunks(gpu, t.size)) {
      gpu.dispatch({
        kernel: scaleByKernel,
        variant: { overrides: { WG } },
        params: new Params().u32(c.count).bytes(),
        bindings: [chunkBinding(t, c), s],
        workgroups: gpu.grid(Math.ceil(c.count / WG)),
      });
    }
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: scales every gradient in place by min(1, maxNorm / (norm + 1e-6))
 * and returns the total norm before clipping, [1]. Like torch (f32), a total sum of squares above the
 * f32 range gives an infinite norm.
 */
export function clipGradNorm(gpu: Gpu, grads: readonly Tensor[], maxNorm: number): Tensor {
  const { norm, coef } = gradNorm(gpu, grads, maxNorm);
  try {
    scaleByScalar(gpu, grads, coef);
  } finally {
    coef.dispose();
  }
  return norm;
}
