// Column sums of a row-major [rows, cols] matrix: out[c] = sum_r x[r, c] (bias gradients). Computed as
// ones[1, rows] . x on the matmul kernels.
import type { Gpu } from '../context.ts';
import type { Tensor } from '../tensor.ts';
import { gemm } from './matmul.ts';

export function sumRows(gpu: Gpu, x: Tensor, rows: number, cols: number): Tensor {
  const ones = gpu.tensor(new Float32Array(rows).fill(1), [1, rows]);
  const out = gpu.empty([cols]);
  gemm(gpu, { a: ones, b: x, c: out, M: 1, N: cols, K: rows });
  ones.dispose();
  return out;
}
