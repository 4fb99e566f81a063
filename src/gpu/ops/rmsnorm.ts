// RMSNorm over the last dimension (Qwen2 decoder, Qwen2.5-VL vision tower):
// y = x * rsqrt(mean(x^2) + eps) * w, x [..., D] f32, w [D] f32 or f16. The forward keeps the per-row
// rstd for the backward, which gives dx and dw (summed over rows), each only when it is needed. The row
// kernels combine per-invocation partial sums after one barrier; on CPU adapters, where a barrier means
// switching between the workgroup's lanes and every lane reads every partial sum, a row gets 8 lanes.
// addRmsNorm is the residual add before a norm, fused into its kernel where nothing needs a gradient.
import addForwardCode from '../../../kernels/norm/add_rmsnorm_forward.wgsl?raw';
import backwardCode from '../../../kernels/norm/rmsnorm_backward.wgsl?raw';
import weightCode from '../../../kernels/norm/rmsnorm_backward_weight.wgsl?raw';
import forwardCode from '../../../kernels/norm/rmsnorm_forward.wgsl?raw';
import { needsGrad, record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { add } from './add.ts';

export const addRmsNormForwardKernel = defineKernel('norm/add_rmsnorm_forward', addForwardCode);
export const rmsNormForwardKernel = defineKernel('norm/rmsnorm_forward', forwardCode);
export const rmsNormBackwardKernel = defineKernel('norm/rmsnorm_backward', backwardCode);
export const rmsNormBackwardWeightKernel = defineKernel('norm/rmsnorm_backward_weight', weightCode);

const WG = 64;
const CPU_ROW_WG = 8;

/** Checks x [..., cols] f32 against w [cols]; returns cols. */
function checkNorm(op: string, x: Tensor, w: Tensor): number {
  if (x.dtype !== 'f32') throw new ShapeError(`${op}: input must be f32, got ${x.dtype}`);
  const cols = x.shape.at(-1);
  if (cols === undefined || cols === 0)
    throw new ShapeError(`${op}: input [${x.shape}] needs a non-empty last dimension`);
  if (w.shape.length !== 1 || w.shape[0] !== cols)
    throw new ShapeError(`${op}: weight [${w.shape}] must be [${cols}] to match input [${x.shape}]`);
  if (w.dtype !== 'f32' && w.dtype !== 'f16')
    throw new ShapeError(`${op}: weight must be f32 or f16, got ${w.dtype}`);
  return cols;
}

function rowVariant(gpu: Gpu, w: Tensor) {
  return { f16: w.dtype === 'f16', overrides: { WG: gpu.adapter.isFallback ? CPU_ROW_WG : WG } };
}

/** The residual stream x + r and its RMSNorm: { sum, normed }, both [..., cols]. */
export function addRmsNorm(
  gpu: Gpu,
  x: Tensor,
  r: Tensor,
  w: Tensor,
  eps = 1e-6,
): { sum: Tensor; normed: Tensor } {
  const cols = checkNorm('addRmsNorm', x, w);
  if (r.shape.join() !== x.shape.join())
    throw new ShapeError(`addRmsNorm: residual [${r.shape}] must match input [${x.shape}]`);
  if (needsGrad(gpu, x, r, w)) {
    const sum = add(gpu, x, r);
    return { sum, normed: rmsNorm(gpu, sum, w, eps) };
  }
  const rows = x.size / cols;
  const sum = gpu.empty(x.shape);
  const normed = gpu.empty(x.shape);
  gpu.dispatch({
    kernel: addRmsNormForwardKernel,
    variant: rowVariant(gpu, w),
    params: new Params().u32(rows).u32(cols).f32(eps).bytes(),
    bindings: [x, r, w, sum, normed],
    workgroups: gpu.grid(rows),
  });
  return { sum, normed };
}

export function rmsNorm(gpu: Gpu, x: Tensor, w: Tensor, eps = 1e-6): Tensor {
  const cols = checkNorm('rmsNorm', x, w);
  const rows = x.size / cols;
  const variant = rowVariant(gpu, w);
  const y = gpu.empty(x.shape);
  const rstd = gpu.empty([rows]);
  gpu.dispatch({
    kernel: rmsNormForwardKernel,
    variant,
    params: new Params().u32(rows).u32(cols).f32(eps).bytes(),
    bindings: [x, w, y, rstd],
    workgroups: gpu.grid(rows),
  });
  if (!needsGrad(gpu, x, w)) {
    rstd.dispose();
    return y;
  }
  record(gpu, [x, w], [y], [x, w, rstd], ([dy], needs) => {
    if (!dy) return [];
    if (needs[1] && w.dtype !== 'f32')
      throw new ShapeError('rmsNorm: an f16 weight cannot be trained; keep it frozen');
    const params = new Params().u32(rows).u32(cols).bytes();
    let dx: Tensor | undefined;
    let dw: Tensor | undefined;
    if (needs[0]) {
      dx = gpu.empty(x.shape);
      gpu.dispatch({
        kernel: rmsNormBackwardKernel,
        variant,
        params,
        bindings: [x, w, dy, rstd, dx],
        workgroups: gpu.grid(rows),
      });
    }
    if (needs[1]) {
      dw = gpu.empty(w.shape);
      gpu.dispatch({
        kernel: rmsNormBackwardWeightKernel,
        variant: { overrides: { WG } },
        params,
        bindings: [x, dy, rstd, dw],
        workgroups: [Math.ceil(cols / WG)],
      });
    }
    return [dx, dw];
  });
  // The tape holds its own reference now; drop ours, and take rstd out of any open scope so closing the
  // scope does not drop the tape's.
  rstd.dispose();
  return y;
}
