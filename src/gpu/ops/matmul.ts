// Matmul. `gemm` records C = alpha * op(A) . op(B) (+ bias) (+ C) over strided batches of views, and
// splits a B operand (the weight) larger than the device's storage-binding limit into pieces; `matmul`
// is the shape-checked front end for whole tensors.
import code from '../../../kernels/matmul/matmul.wgsl?raw';
import sgCode from '../../../kernels/matmul/matmul_sg.wgsl?raw';
import vec4Code from '../../../kernels/matmul/matmul_vec4.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import { DTYPE_BYTES, type Tensor } from '../tensor.ts';

export const matmulKernel = defineKernel('matmul/matmul', code);
export const matmulVec4Kernel = defineKernel('matmul/matmul_vec4', vec4Code);
export const matmulSgKernel = defineKernel('matmul/matmul_sg', sgCode);

/**
 * Which kernel runs a gemm: `subgroup` (matmul_sg.wgsl) on CPU adapters with subgroups of at least 8
 * lanes, where per-invocation loads dominate; otherwise `vec4` (matmul_vec4.wgsl) when the operands are
 * aligned, and `general` (matmul.wgsl) for the rest.
 */
export type MatmulPath = 'auto' | 'general' | 'vec4' | 'subgroup';

const WG = 8;
const TILE = 4;

export interface Gemm {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  bias?: Tensor;
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  /** Row strides of the stored matrices; default: dense (K or M for A, N or K for B, N for C). */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Element offsets of the first matrix of each operand, and of the bias. */
  offA?: number;
  offB?: number;
  offC?: number;
  offBias?: number;
  /** Element strides between batches; 0 broadcasts one matrix to every batch. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  /** C = silu(C) * result (C holds a SwiGLU's gate); needs transB, not with accumulate. */
  gated?: boolean;
  /** Force a kernel (tests, benchmarks); default 'auto'. */
  path?: MatmulPath;
}

type Resolved = Required<Omit<Gemm, 'bias'>> & { bias: Tensor | undefined };

/** Whether this adapter gets the subgroup kernel. */
export function prefersSubgroupMatmul(gpu: Gpu): boolean {
  return gpu.prefersSubgroupKernels;
}

/** Records the dispatches of one gemm. */
export function gemm(gpu: Gpu, g: Gemm): void {
  const r: Resolved = {
    batch: 1,
    transA: false,
    transB: false,
    lda: g.transA ? g.M : g.K,
    ldb: g.transB ? g.K : g.N,
    ldc: g.N,
    offA: 0,
    offB: 0,
    offC: 0,
    offBias: 0,
    strideA: g.M * g.K,
    strideB: g.K * g.N,
    strideC: g.M * g.N,
    alpha: 1,
    accumulate: false,
    gated: false,
    path: 'auto',
    ...(Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)) as Gemm),
    bias: g.bias,
  };
  if (r.a.dtype !== 'f32' || r.c.dtype !== 'f32') throw new ShapeError('matmul: A and C must be f32');
  if (r.b.dtype !== 'f32' && r.b.dtype !== 'f16') throw new ShapeError('matmul: B must be f32 or f16');
  if (r.gated && (r.accumulate || !r.transB))
    throw new ShapeError('matmul: a gated gemm needs a transposed B and no accumulate');
  if (r.M === 0 || r.N === 0) return;
  if (r.a.blocks || r.c.blocks || r.bias?.blocks)
    throw new ShapeError('matmul: only B (the weight) may be stored in row blocks');
  if (r.b.blocks) {
    gemmBlocks(gpu, r);
    return;
  }
  const bBytes = DTYPE_BYTES[r.b.dtype];
  if (r.b.bindSize <= gpu.maxBindingSize) {
    record(gpu, r, { offset: 0, size: r.b.bindSize });
    return;
  }
  if (r.batch > 1 && r.strideB !== 0)
    throw new ShapeError('matmul: a batched B must fit one storage binding');
  // Split B by its stored rows: along N when B is [N, K] (transB), along K when it is [K, N].
  const rows = r.transB ? r.N : r.K;
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const perChunk = Math.floor((gpu.maxBindingSize - align) / (r.ldb * bBytes));
  if (perChunk < 1)
    throw new ShapeError(`matmul: one row of B (${r.ldb} elements) exceeds the binding limit`);
  for (let s = 0; s < rows; s += perChunk) {
    const n = Math.min(perChunk, rows - s);
    const start = (r.offB + s * r.ldb) * bBytes;
    const offset = Math.floor(start / align) * align;
    const size = Math.min(r.b.bindSize - offset, Math.ceil((start - offset + n * r.ldb * bBytes) / 4) * 4);
    const part: Resolved = { ...r, offB: (start - offset) / bBytes };
    if (r.transB) {
      Object.assign(part, { N: n, offC: r.offC + s, offBias: r.offBias + s });
    } else {
      const shiftA = r.transA ? s * r.lda : s;
      Object.assign(part, { K: n, offA: r.offA + shiftA, accumulate: r.accumulate || s > 0 });
      if (s > 0) part.bias = undefined;
    }
    record(gpu, part, { offset, size });
  }
}

/**
 * A row-blocked B, block by block: B's stored rows are N when transposed (each block gives columns of C)
 * and K otherwise (each block adds its share of the sum). Each block is a whole B of its own.
 */
function gemmBlocks(gpu: Gpu, r: Resolved): void {
  const { rows: per, parts } = r.b.blocks!;
  if (r.offB !== 0 || r.ldb !== (r.transB ? r.K : r.N) || (r.batch > 1 && r.strideB !== 0))
    throw new ShapeError('matmul: a row-blocked B must be read whole, unbatched');
  parts.forEach((part, i) => {
    const s = i * per;
    const n = part.shape[0]!;
    const g: Gemm = { ...r, b: part, offB: 0, strideB: 0 };
    if (r.transB) Object.assign(g, { N: n, offC: r.offC + s, offBias: r.offBias + s });
    else {
      const shiftA = r.transA ? s * r.lda : s;
      Object.assign(g, { K: n, offA: r.offA + shiftA, accumulate: r.accumulate || i > 0 });
      if (i > 0) g.bias = undefined;
    }
    gemm(gpu, g);
  });
}

/** Whether the operands meet matmul_vec4.wgsl's alignment rules. */
export function vec4Aligned(r: Omit<Resolved, 'a' | 'b' | 'c' | 'bias' | 'path' | 'gated'>): boolean {
  const four = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  return (
    four(r.K, r.lda, r.ldb, r.offA, r.offB, r.strideA, r.strideB) &&
    (r.transB || r.N % 4 === 0) &&
    (!r.transA || r.M % 4 === 0)
  );
}

function record(gpu: Gpu, r: Resolved, bRange: { offset: number; size: number }): void {
  const params = new Params()
    .u32(r.M)
    .u32(r.N)
    .u32(r.K)
    .f32(r.alpha)
    .u32(r.lda)
    .u32(r.ldb)
    .u32(r.ldc)
    .u32(r.offBias)
    .u32(r.offA)
    .u32(r.offB)
    .u32(r.offC)
    .u32(r.strideA)
    .u32(r.strideB)
    .u32(r.strideC);
  let path = r.path;
  if (path === 'auto') path = prefersSubgroupMatmul(gpu) ? 'subgroup' : vec4Aligned(r) ? 'vec4' : 'general';
  if (path === 'vec4' && !vec4Aligned(r))
    throw new ShapeError('matmul: operands are not aligned for the vec4 kernel');
  const overrides = {
    TRANS_A: r.transA,
    TRANS_B: r.transB,
    HAS_BIAS: r.bias !== undefined,
    ACCUMULATE: r.accumulate,
    GATED: r.gated,
  };
  const common = {
    params: params.bytes(),
    bindings: [r.a, { tensor: r.b, ...bRange }, r.bias ?? gpu.dummy, r.c],
  };
  const f16 = r.b.dtype === 'f16';
  if (path === 'subgroup') {
    // Row blocks of 8 per invocation: fewer for short matrices (decoding), so no block is mostly padding.
    const rb = Math.min(4, Math.ceil(r.M / 8));
    gpu.dispatch({
      kernel: matmulSgKernel,
      variant: { f16, overrides: { ...overrides, RB: rb } },
      ...common,
      workgroups: [Math.ceil(r.N / 32), Math.ceil(r.M / (8 * rb)), r.batch],
    });
    return;
  }
  gpu.dispatch({
    kernel: path === 'vec4' ? matmulVec4Kernel : matmulKernel,
    variant: { f16, overrides: { ...overrides, WG_X: WG, WG_Y: WG } },
    ...common,
    workgroups: [Math.ceil(r.N / TILE / WG), Math.ceil(r.M / TILE / WG), r.batch],
  });
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Added to every row of the result; shape [N]. */
  bias?: Tensor;
  alpha?: number;
  /** Write into this tensor (shape [..., M, N]) instead of a new one. */
  out?: Tensor;
  /** out += result; needs `out`. */
  accumulate?: boolean;
}

/**
 * op(A) . op(B) for A of shape [M, K] or [batch, M, K] and B of shape [K, N] or [batch, K, N] (the last
 * two dimensions swapped under transA / transB). A rank-2 operand is shared by every batch. B may be f16.
 */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const mat = (t: Tensor, name: string) => {
    if (t.shape.length !== 2 && t.shape.length !== 3)
      throw new ShapeError(`matmul: ${name} must be rank 2 or 3, got [${t.shape}]`);
    const r = t.shape.length;
    return { batch: r === 3 ? t.shape[0]! : 0, rows: t.shape[r - 2]!, cols: t.shape[r - 1]! };
  };
  const A = mat(a, 'A');
  const B = mat(b, 'B');
  const [M, K] = opts.transA ? [A.cols, A.rows] : [A.rows, A.cols];
  const [Kb, N] = opts.transB ? [B.cols, B.rows] : [B.rows, B.cols];
  if (K !== Kb) throw new ShapeError(`matmul: inner dimensions differ: A [${a.shape}] and B [${b.shape}]`);
  if (A.batch && B.batch && A.batch !== B.batch)
    throw new ShapeError(`matmul: batch sizes differ: [${a.shape}] and [${b.shape}]`);
  const batch = Math.max(A.batch, B.batch, 1);
  const outShape = A.batch || B.batch ? [batch, M, N] : [M, N];
  if (opts.bias && (opts.bias.shape.length !== 1 || opts.bias.shape[0] !== N)) {
    throw new ShapeError(`matmul: bias must have shape [${N}], got [${opts.bias.shape}]`);
  }
  if (opts.accumulate && !opts.out) throw new ShapeError('matmul: accumulate needs an out tensor');
  if (opts.out && opts.out.size !== batch * M * N) {
    throw new ShapeError(`matmul: out has shape [${opts.out.shape}], expected [${outShape}]`);
  }
  const c = opts.out ?? gpu.empty(outShape);
  gemm(gpu, {
    a,
    b,
    c,
    bias: opts.bias,
    M,
    N,
    K,
    batch,
    transA: opts.transA ?? false,
    transB: opts.transB ?? false,
    strideA: A.batch ? M * K : 0,
    strideB: B.batch ? K * N : 0,
    strideC: M * N,
    alpha: opts.alpha ?? 1,
    accumulate: opts.accumulate ?? false,
  });
  return c;
}
