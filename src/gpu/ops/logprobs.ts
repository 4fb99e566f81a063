// Vocabulary-wide row ops on logits [S, V] under a sampling temperature T (GRPO, REFERENCE.md section 2):
// tokenLogprobs -> [S], log_softmax(logits / T)[target], and entropy -> [S], the entropy of
// softmax(logits / T), each with its backward to the logits. One workgroup per row makes a single
// online (max, sum-exp) pass; logits over the storage-binding limit are processed in row ranges.

import entropyBackwardCode from '../../../kernels/logits/entropy_backward.wgsl?raw';
import entropyForwardCode from '../../../kernels/logits/entropy_forward.wgsl?raw';
import forwardCode from '../../../kernels/logits/logsumexp_rows.wgsl?raw';
import backwardCode from '../../../kernels/logits/token_logprobs_backward.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { rowChunks } from './row-chunks.ts';

export const logsumexpRowsKernel = defineKernel('logits/logsumexp_rows', forwardCode);
export const tokenLogprobsBackwardKernel = defineKernel('logits/token_logprobs_backward', backwardCode);
export const entropyForwardKernel = defineKernel('logits/entropy_forward', entropyForwardCode);
export const entropyBackwardKernel = defineKernel('logits/entropy_backward', entropyBackwardCode);

const WG = 128;
/** Passed as the ignore index when no target may be ignored (targets are checked to be in [0, V)). */
const NO_IGNORE = -(2 ** 31);

export function tokenLogprobs(gpu: Gpu, logits: Tensor, targets: Int32Array, temperature = 1): Tensor {
  return pickedLogSoftmax(gpu, 'tokenLogprobs', logits, targets, { temperature, sign: 1 });
}

export function entropy(gpu: Gpu, logits: Tensor, temperature = 1): Tensor {
  const [rows, cols] = checkLogits('entropy', logits);
  const invT = inverseTemperature('entropy', temperature);
  const out = gpu.empty([rows]);
  const stats = gpu.empty([rows, 2]);
  const chunks = rowChunks(gpu, logits, rows, cols, 'entropy');
  for (const c of chunks) {
    gpu.dispatch({
      kernel: entropyForwardKernel,
      variant: { overrides: { WG } },
      params: new Params().u32(c.rows).u32(cols).u32(c.row).u32(c.elem).f32(invT).bytes(),
      bindings: [{ tensor: logits, offset: c.offset, size: c.size }, out, stats],
      workgroups: gpu.grid(c.rows),
    });
  }
  record(gpu, [logits], [out], [logits, stats, out], ([dy], needs) => {
    if (!dy || !needs[0]) return [];
    const dx = gpu.empty(logits.shape);
    for (const c of chunks) {
      gpu.dispatch({
        kernel: entropyBackwardKernel,
        variant: { overrides: { WG } },
        params: new Params().u32(c.rows).u32(cols).u32(c.row).u32(c.elem).u32(c.elem).f32(invT).bytes(),
        bindings: [
          { tensor: logits, offset: c.offset, size: c.size },
          stats,
          out,
          dy,
          { tensor: dx, offset: c.offset, size: c.size },
        ],
        workgroups: gpu.grid(c.rows),
      });
    }
    return [dx];
  });
  stats.dispose();
  return out;
}

/**
 * out[s] = sign * log_softmax(logits[s] / T)[targets[s]], or 0 where targets[s] == ignore (when given):
 * the shared core of tokenLogprobs (sign 1) and crossEntropy (sign -1, T = 1).
 */
export function pickedLogSoftmax(
  gpu: Gpu,
  op: string,
  logits: Tensor,
  targets: Int32Array,
  { temperature, sign, ignore }: { temperature: number; sign: number; ignore?: number },
): Tensor {
  const [rows, cols] = checkLogits(op, logits);
  const invT = inverseTemperature(op, temperature);
  if (targets.length !== rows)
    throw new ShapeError(`${op}: ${targets.length} targets for ${rows} rows of logits [${logits.shape}]`);
  for (let i = 0; i < rows; i++) {
    const t = targets[i]!;
    if (t !== ignore && !(t >= 0 && t < cols))
      throw new ShapeError(`${op}: target ${t} at row ${i} is outside the vocabulary [0, ${cols})`);
  }
  const out = gpu.empty([rows]);
  const stats = gpu.empty([rows, 2]);
  const tgt = gpu.tensor(targets, [rows], 'i32');
  const chunks = rowChunks(gpu, logits, rows, cols, op);
  for (const c of chunks) {
    gpu.dispatch({
      kernel: logsumexpRowsKernel,
      variant: { overrides: { WG } },
      params: new Params()
        .u32(c.rows)
        .u32(cols)
        .u32(c.row)
        .u32(c.elem)
        .f32(invT)
        .f32(sign)
        .i32(ignore ?? NO_IGNORE)
        .bytes(),
      bindings: [{ tensor: logits, offset: c.offset, size: c.size }, tgt, out, stats],
      workgroups: gpu.grid(c.rows),
    });
  }
  record(gpu, [logits], [out], [logits, stats, tgt], ([dy], needs) => {
    if (!dy || !needs[0]) return [];
    const dx = gpu.empty(logits.shape);
    for (const c of chunks) {
      gpu.dispatch({
        kernel: tokenLogprobsBackwardKernel,
        variant: { overrides: { WG } },
        params: new Params()
          .u32(c.rows)
          .u32(cols)
          .u32(c.row)
          .u32(c.elem)
          .u32(c.elem)
          .f32(invT)
          .f32(sign)
          .i32(ignore ?? NO_IGNORE)
          .bytes(),
        bindings: [
          { tensor: logits, offset: c.offset, size: c.size },
          tgt,
          stats,
          dy,
          { tensor: dx, offset: c.offset, size: c.size },
        ],
        workgroups: gpu.grid(c.rows),
      });
    }
    return [dx];
  });
  stats.dispose();
  tgt.dispose();
  return out;
}

function checkLogits(op: string, logits: Tensor): [number, number] {
  if (logits.shape.length !== 2 || logits.dtype !== 'f32')
    throw new ShapeError(`${op}: logits must be f32 [S, V], got ${logits.dtype} [${logits.shape}]`);
  const [rows, cols] = logits.shape as [number, number];
  if (cols === 0) throw new ShapeError(`${op}: logits have an empty vocabulary dimension`);
  return [rows, cols];
}

function inverseTemperature(op: string, temperature: number): number {
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw new ShapeError(`${op}: temperature must be a positive number, got ${temperature}`);
  return 1 / temperature;
}
