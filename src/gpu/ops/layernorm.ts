// LayerNorm over the last dimension with weight and bias (Qwen2-VL vision tower and merger):
// y = (x - mean) * rsqrt(var + eps) * w + b with the biased variance, x [..., D] f32, w and b [D] (both
// f32 or both f16). The forward keeps per-row statistics for the backward (rstd, and the mean as its
// offset from the row's first element, which keeps it exact for rows with a large common offset); the
// backward gives dx, dw and db, each only when it is needed.
import backwardCode from '../../../kernels/norm/layernorm_backward.wgsl?raw';
import weightCode from '../../../kernels/norm/layernorm_backward_weight.wgsl?raw';
import forwardCode from '../../../kernels/norm/layernorm_forward.wgsl?raw';
import { needsGrad, record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const layerNormForwardKernel = defineKernel('norm/layernorm_forward', forwardCode);
export const layerNormBackwardKernel = defineKernel('norm/layernorm_backward', backwardCode);
export const layerNormBackwardWeightKernel = defineKernel('norm/layernorm_backward_weight', weightCode);

const WG = 64;

export function layerNorm(gpu: Gpu, x: Tensor, w: Tensor, b: Tensor, eps = 1e-6): Tensor {
  if (x.dtype !== 'f32') throw new ShapeError(`layerNorm: input must be f32, got ${x.dtype}`);
  const cols = x.shape.at(-1);
  if (cols === undefined || cols === 0)
    throw new ShapeError(`layerNorm: input [${x.shape}] needs a non-empty last dimension`);
  for (const [name, t] of [
    ['weight', w],
    ['bias', b],
  ] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== cols)
      throw new ShapeError(`layerNorm: ${name} [${t.shape}] must be [${cols}] to match input [${x.shape}]`);
  }
  if ((w.dtype !== 'f32' && w.dtype !== 'f16') || b.dtype !== w.dtype)
    throw new ShapeError(
      `layerNorm: weight and bias must both be f32 or both f16, got ${w.dtype}, ${b.dtype}`,
    );
  const rows = x.size / cols;
  const variant = { f16: w.dtype === 'f16', overrides: { WG } };
  const y = gpu.empty(x.shape);
  // mean - x[row, 0]: see kernels/norm/layernorm_forward.wgsl.
  const center = gpu.empty([rows]);
  const rstd = gpu.empty([rows]);
  gpu.dispatch({
    kernel: layerNormForwardKernel,
    variant,
    params: new Params().u32(rows).u32(cols).f32(eps).bytes(),
    bindings: [x, w, b, y, center, rstd],
    workgroups: gpu.grid(rows),
  });
  if (!needsGrad(gpu, x, w, b)) {
    center.dispose();
    rstd.dispose();
    return y;
  }
  record(gpu, [x, w, b], [y], [x, w, center, rstd], ([dy], needs) => {
    if (!dy) return [];
    if ((needs[1] || needs[2]) && w.dtype !== 'f32')
      throw new ShapeError('layerNorm: f16 weight and bias cannot be trained; keep them frozen');
    const params = new Params().u32(rows).u32(cols).bytes();
    let dx: Tensor | undefined;
    let dw: Tensor | undefined;
    let db: Tensor | undefined;
    if (needs[0]) {
      dx = gpu.empty(x.shape);
      gpu.dispatch({
        kernel: layerNormBackwardKernel,
        variant,
        params,
        bindings: [x, w, dy, center, rstd, dx],
        workgroups: gpu.grid(rows),
      });
    }
    if (needs[1] || needs[2]) {
      if (needs[1]) dw = gpu.empty(w.shape);
      if (needs[2]) db = gpu.empty(b.shape);
      gpu.dispatch({
        kernel: layerNormBackwardWeightKernel,
        variant: { overrides: { WG, HAS_DW: needs[1] === true, HAS_DB: needs[2] === true } },
        params,
        bindings: [x, dy, center, rstd, dw ?? gpu.dummy, db ?? gpu.dummy],
        workgroups: [Math.ceil(cols / WG)],
      });
    }
    return [dx, dw, db];
  });
  // The tape holds its own references now; drop ours, and take the statistics out of any open scope so
  // closing the scope does not drop the tape's.
  center.dispose();
  rstd.dispose();
  return y;
}
