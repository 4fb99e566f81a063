// Linear layer: y = x . W^T (+ b), x [..., in], W [out, in] (f32 or f16), b [out]. Backward: dx = dy . W,
// dW = dy^T . x, db = column sums of dy, each computed only when its input needs a gradient, so a frozen
// base weight (LoRA) never gets a weight gradient.
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { gemm } from './matmul.ts';
import { sumRows } from './sum-rows.ts';

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
