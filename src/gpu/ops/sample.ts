// Next-token sampling on the GPU: logits [B, V] -> token ids [B] (i32), with temperature, top-k and
// top-p applied in that order as HF transformers' logits warpers do, and temperature 0 meaning greedy.
// Only the ids come back to the host. Draws are a pure function of (seed, step, row), so a decode loop
// is reproducible whatever the batching. Not differentiable: nothing is recorded on the tape.
import code from '../../../kernels/logits/sample_rows.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const sampleRowsKernel = defineKernel('logits/sample_rows', code);

export interface SampleOptions {
  /** Softmax temperature; 0 samples greedily (argmax, lowest index on ties). */
  temperature: number;
  /** Keep the k highest logits (all tokens tied with the k-th are kept); 0 or >= V: off. */
  topK?: number;
  /**
   * Nucleus: keep the highest-probability tokens whose cumulative probability first reaches topP
   * (at least one; all tokens tied at the boundary are kept); 1: off.
   */
  topP?: number;
  /** u32 seed of the random stream. */
  seed: number;
  /** u32 decode step, hashed with the seed and the row index (default 0). */
  step?: number;
}

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * One token id per row of `logits` [B, V] (f32). Rows whose bytes exceed the device's binding limit
 * are not supported: a ShapeError says so (a Qwen row of 151936 f32 is 0.6 MB).
 */
export function sample(gpu: Gpu, logits: Tensor, opts: SampleOptions): Tensor {
  if (logits.dtype !== 'f32') throw new ShapeError(`sample: logits must be f32, got ${logits.dtype}`);
  if (logits.shape.length !== 2)
    throw new ShapeError(`sample: logits must be [batch, vocab], got [${logits.shape}]`);
  const [rows, cols] = logits.shape as [number, number];
  if (cols === 0) throw new ShapeError('sample: the vocabulary is empty');
  if (cols >= 2 ** 24) throw new ShapeError(`sample: vocabulary of ${cols} is over 2^24 tokens`);
  const { temperature, topK = 0, topP = 1, seed, step = 0 } = opts;
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new RangeError(`sample: temperature must be finite and >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`sample: topK must be an integer >= 0, got ${topK}`);
  if (!(topP >= 0 && topP <= 1)) throw new RangeError(`sample: topP must be in [0, 1], got ${topP}`);
  if (!isU32(seed)) throw new RangeError(`sample: seed must be a u32, got ${seed}`);
  if (!isU32(step)) throw new RangeError(`sample: step must be a u32, got ${step}`);

  const out = gpu.empty([rows], 'i32');
  if (rows === 0) return out;
  // A temperature so small that 1/T overflows f32 keeps only the maximum, like greedy.
  const greedy = topK === 1 || !(1 / temperature < 3e38);

  // Rows go in groups that fit one binding and start at an aligned byte offset.
  const rowBytes = cols * 4;
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const rowStep = align / gcd(rowBytes, align);
  const fit = Math.floor(gpu.maxBindingSize / rowBytes);
  const group = rows <= fit ? rows : Math.floor(fit / rowStep) * rowStep;
  if (group === 0) {
    out.dispose();
    throw new ShapeError(
      `sample: rows of ${cols} f32 logits cannot be bound in groups of ${rowStep} under the ` +
        `${gpu.maxBindingSize}-byte binding limit`,
    );
  }
  // Small rows waste fewer idle invocations (and barriers) in a small workgroup.
  const WG = cols <= 2048 ? 32 : 256;
  for (let r0 = 0; r0 < rows; r0 += group) {
    const n = Math.min(group, rows - r0);
    gpu.dispatch({
      kernel: sampleRowsKernel,
      variant: { overrides: { WG } },
      params: new Params()
        .u32(n)
        .u32(cols)
        .u32(r0)
        .u32(greedy ? 1 : 0)
        .u32(Math.min(topK, cols))
        .f32(topP)
        .f32(greedy ? 0 : 1 / temperature)
        .u32(seed)
        .u32(step)
        .bytes(),
      bindings: [n === rows ? logits : { tensor: logits, offset: r0 * rowBytes, size: n * rowBytes }, out],
      workgroups: gpu.grid(n),
    });
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
