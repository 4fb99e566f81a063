// Elementwise activations with their backward rules: SiLU, the fused SwiGLU gate silu(gate) * up, and
// GELU in its exact (erf), tanh-approximated and QuickGELU forms.
import geluBackwardCode from '../../../kernels/elementwise/gelu_backward.wgsl?raw';
import geluForwardCode from '../../../kernels/elementwise/gelu_forward.wgsl?raw';
import siluBackwardCode from '../../../kernels/elementwise/silu_backward.wgsl?raw';
import siluForwardCode from '../../../kernels/elementwise/silu_forward.wgsl?raw';
import swigluBackwardCode from '../../../kernels/elementwise/swiglu_backward.wgsl?raw';
import swigluForwardCode from '../../../kernels/elementwise/swiglu_forward.wgsl?raw';
import { needsGrad, record } from '../autograd.ts';
import type { Binding, Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel, type Kernel, type Overrides } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const siluForwardKernel = defineKernel('elementwise/silu_forward', siluForwardCode);
export const siluBackwardKernel = defineKernel('elementwise/silu_backward', siluBackwardCode);
export const swigluForwardKernel = defineKernel('elementwise/swiglu_forward', swigluForwardCode);
export const swigluBackwardKernel = defineKernel('elementwise/swiglu_backward', swigluBackwardCode);
export const geluForwardKernel = defineKernel('elementwise/gelu_forward', geluForwardCode);
export const geluBackwardKernel = defineKernel('elementwise/gelu_backward', geluBackwardCode);

export type GeluKind = 'exact' | 'tanh' | 'quick';

const GELU_KIND: Record<GeluKind, number> = { exact: 0, tanh: 1, quick: 2 };
const WG = 256;

function elementwise(
  gpu: Gpu,
  kernel: Kernel,
  n: number,
  bindings: readonly Binding[],
  overrides: Overrides = {},
): void {
  gpu.dispatch({
    kernel,
    variant: { overrides: { WG, ...overrides } },
    params: new Params().u32(n).bytes(),
    bindings,
    workgroups: gpu.grid(Math.ceil(n / WG)),
  });
}

function checkF32(name: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new ShapeError(`${name}: f32 only, got ${t.dtype}`);
}

/** y = x * sigmoid(x). */
export function silu(gpu: Gpu, x: Tensor): Tensor {
  checkF32('silu', x);
  const y = gpu.empty(x.shape);
  elementwise(gpu, siluForwardKernel, x.size, [x, y]);
  record(gpu, [x], [y], [x], ([dy]) => {
    if (!dy) return [];
    const dx = gpu.empty(x.shape);
    elementwise(gpu, siluBackwardKernel, x.size, [x, dy, dx]);
    return [dx];
  });
  return y;
}

/** y = silu(gate) * up, for gate and up of one shape (the SwiGLU MLP's gate). */
export function swiglu(gpu: Gpu, gate: Tensor, up: Tensor): Tensor {
  checkF32('swiglu', gate, up);
  if (gate.shape.join() !== up.shape.join())
    throw new ShapeError(`swiglu: gate [${gate.shape}] and up [${up.shape}] must have one shape`);
  const y = gpu.empty(gate.shape);
  elementwise(gpu, swigluForwardKernel, gate.size, [gate, up, y]);
  // `up` is read only by the gate's gradient.
  const saved = needsGrad(gpu, gate) ? [gate, up] : [gate];
  record(gpu, [gate, up], [y], saved, ([dy], needs) => {
    if (!dy) return [];
    const [needGate = false, needUp = false] = needs;
    const dgate = needGate ? gpu.empty(gate.shape) : undefined;
    const dup = needUp ? gpu.empty(up.shape) : undefined;
    elementwise(
      gpu,
      swigluBackwardKernel,
      gate.size,
      // A frozen gate's gradient reads no `up`: gate stands in for it, as the placeholder is written.
      [gate, needGate ? up : gate, dy, dgate ?? gpu.dummy, dup ?? gpu.dummy],
      { NEED_GATE: needGate, NEED_UP: needUp },
    );
    return [dgate, dup];
  });
  return y;
}

/** GELU: 'exact' x * Phi(x) (erf), 'tanh' the tanh approximation, 'quick' x * sigmoid(1.702 x). */
export function gelu(gpu: Gpu, x: Tensor, kind: GeluKind): Tensor {
  checkF32('gelu', x);
  const KIND = GELU_KIND[kind];
  if (KIND === undefined) throw new ShapeError(`gelu: unknown kind '${kind}' (exact, tanh or quick)`);
  const y = gpu.empty(x.shape);
  elementwise(gpu, geluForwardKernel, x.size, [x, y], { KIND });
  record(gpu, [x], [y], [x], ([dy]) => {
    if (!dy) return [];
    const dx = gpu.empty(x.shape);
    elementwise(gpu, geluBackwardKernel, x.size, [x, dy, dx], { KIND });
    return [dx];
  });
  return y;
}
