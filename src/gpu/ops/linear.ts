// Linear layer: y = x . W^T (+ b), x [..., in], W [out, in] (f32 or f16), b [out]. Backward: dx = dy . W,
// dW = dy^T . x, db = column sums of dy, each computed only when its input needs a gradient, so a frozen
// base weight (LoRA) never gets a weight gradient. linearPair (two projections of one input: k and v)
// and swigluLinear (the SwiGLU MLP's first half) take fewer dispatches where nothing needs a gradient.
import pairCode from '../../../kernels/matmul/linear_pair_sg.wgsl?raw';
import { needsGrad, record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { swiglu } from './activations.ts';
import { gemm, prefersSubgroupMatmul } from './matmul.ts';
import { sumRows } from './sum-rows.ts';

export const linearPairSgKernel = defineKernel('matmul/linear_pair_sg', pairCode);

export function linear(gpu: Gpu, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (w.shape.length !== 2) throw new ShapeError(`linear: weight must be [out, in], got [${w.shape}]`);
  const [out, inF] = w.shape as [number, number];
  if (x.shape.at(-1) !== inF) throw new ShapeError(`linear: input [${x.shape}] does not end in ${inF}`);
  if (b && (b.shape.length !== 1 || b.shape[0] !== out))
    throw new ShapeError(`linear: bias must be [${out}]`);
  const rows = x.size / inF;
  const y = gpu.empty([...x.shape.slice(0, -1), out]);
  gemm(gpu, { a: x, b: w, c: y, bias: b, M: rows, N: out, K: inF, transB: true });
  record(gpu, [x, w, b], [y], [x, w], ([dy], needs) => {
    if (!dy) return [];
    let dx: Tensor | undefined;
    let dw: Tensor | undefined;
    if (needs[0]) {
      dx = gpu.empty(x.shape);
      gemm(gpu, { a: dy, b: w, c: dx, M: rows, N: inF, K: out });
    }
    if (needs[1]) {
      if (w.dtype !== 'f32') throw new ShapeError('linear: an f16 weight cannot be trained; keep it frozen');
      dw = gpu.empty(w.shape);
      gemm(gpu, { a: dy, b: x, c: dw, M: out, N: inF, K: rows, transA: true, lda: out, ldb: inF });
    }
    const db = needs[2] ? sumRows(gpu, dy, rows, out) : undefined;
    return [dx, dw, db];
  });
  return y;
}

/** x . W1^T (+ b1) and x . W2^T (+ b2) for W1, W2 of one shape (biases both or neither). */
export function linearPair(
  gpu: Gpu,
  x: Tensor,
  w1: Tensor,
  w2: Tensor,
  b1?: Tensor,
  b2?: Tensor,
): [Tensor, Tensor] {
  checkPair('linearPair', w1, w2, b1, b2);
  if (needsGrad(gpu, x, w1, w2, b1, b2) || !pairKernelFits(gpu, x, w1, w2))
    return [linear(gpu, x, w1, b1), linear(gpu, x, w2, b2)];
  const y1 = gpu.empty([...x.shape.slice(0, -1), w1.shape[0]!]);
  const y2 = gpu.empty(y1.shape);
  dispatchPair(gpu, x, w1, w2, b1, b2, y1, y2, true);
  return [y1, y2];
}

/**
 * silu(x . Wg^T) * (x . Wu^T), Wg and Wu [out, in]. Where nothing needs a gradient: one dispatch on CPU
 * adapters, elsewhere the up projection's matmul applies the gate in its epilogue; under a tape,
 * swiglu(linear, linear).
 */
export function swigluLinear(gpu: Gpu, x: Tensor, wGate: Tensor, wUp: Tensor): Tensor {
  checkPair('swigluLinear', wGate, wUp);
  if (needsGrad(gpu, x, wGate, wUp)) return swiglu(gpu, linear(gpu, x, wGate), linear(gpu, x, wUp));
  const [out, inF] = wUp.shape as [number, number];
  if (pairKernelFits(gpu, x, wGate, wUp)) {
    const y = gpu.empty([...x.shape.slice(0, -1), out]);
    gpu.scope(() => dispatchPair(gpu, x, wGate, wUp, undefined, undefined, y, gpu.empty([4]), false));
    return y;
  }
  const y = linear(gpu, x, wGate);
  gemm(gpu, { a: x, b: wUp, c: y, M: x.size / inF, N: out, K: inF, transB: true, gated: true });
  return y;
}

function checkPair(op: string, w1: Tensor, w2: Tensor, b1?: Tensor, b2?: Tensor): void {
  if (w1.shape.length !== 2 || w1.shape.join() !== w2.shape.join() || w1.dtype !== w2.dtype)
    throw new ShapeError(
      `${op}: weights [${w1.shape}] ${w1.dtype} and [${w2.shape}] ${w2.dtype} must have one shape and dtype`,
    );
  if ((b1 === undefined) !== (b2 === undefined)) throw new ShapeError(`${op}: give both biases or neither`);
  for (const b of [b1, b2])
    if (b && (b.shape.length !== 1 || b.shape[0] !== w1.shape[0]))
      throw new ShapeError(`${op}: a bias must be [${w1.shape[0]}]`);
}

/** linear_pair_sg.wgsl serves CPU adapters (matmul's subgroup path), with weights in one binding each. */
function pairKernelFits(gpu: Gpu, x: Tensor, w1: Tensor, w2: Tensor): boolean {
  if (x.shape.at(-1) !== w1.shape[1])
    throw new ShapeError(`linear: input [${x.shape}] does not end in ${w1.shape[1]}`);
  return (
    prefersSubgroupMatmul(gpu) &&
    gpu.device.limits.maxStorageBuffersPerShaderStage >= 7 &&
    x.dtype === 'f32' &&
    !w1.blocks &&
    !w2.blocks &&
    Math.max(w1.bindSize, w2.bindSize, x.bindSize) <= gpu.maxBindingSize
  );
}

/** One dispatch of linear_pair_sg.wgsl: both products into y1 and y2 (`pair`), or silu(y1) * y2 into y1. */
function dispatchPair(
  gpu: Gpu,
  x: Tensor,
  w1: Tensor,
  w2: Tensor,
  b1: Tensor | undefined,
  b2: Tensor | undefined,
  y1: Tensor,
  y2: Tensor,
  pair: boolean,
): void {
  const [N, K] = w1.shape as [number, number];
  const M = x.size / K;
  if (M === 0 || N === 0) return;
  const rb = Math.min(2, Math.ceil(M / 8));
  gpu.dispatch({
    kernel: linearPairSgKernel,
    variant: { f16: w1.dtype === 'f16', overrides: { PAIR: pair, HAS_BIAS: b1 !== undefined, RB: rb } },
    params: new Params().u32(M).u32(N).u32(K).bytes(),
    bindings: [x, w1, w2, b1 ?? gpu.dummy, b2 ?? gpu.dummy, y1, y2],
    workgroups: [Math.ceil(N / 32), Math.ceil(M / (8 * rb))],
  });
}
