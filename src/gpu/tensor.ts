// Tensor: a shape, a dtype and a pooled GPU buffer. Created, read and released through a Gpu context.

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export type HostArray = Float32Array | Int32Array | Uint32Array;

/** What a tensor needs from its owner; implemented by Gpu. */
export interface TensorOwner {
  releaseTensor(t: Tensor): void;
}

export class Tensor {
  readonly size: number;
  /** References held: the creator's, plus one per retain(). The buffer is released at zero. */
  private refs = 1;

  constructor(
    readonly owner: TensorOwner,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    this.size = numel(shape);
  }

  /** Logical bytes (the buffer may be larger: it comes from a size class). */
  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /** Bytes to bind: the logical size rounded up to 4. */
  get bindSize(): number {
    return Math.max(4, Math.ceil(this.byteLength / 4) * 4);
  }

  get isDisposed(): boolean {
    return this.refs === 0;
  }

  /** Adds a reference (the autograd tape keeps saved activations this way); each needs a dispose(). */
  retain(): this {
    if (this.refs === 0) throw new Error(`retain() of a disposed tensor [${this.shape}]`);
    this.refs++;
    return this;
  }

  /** Drops one reference; the buffer returns to the pool when none is left. Extra calls are no-ops. */
  dispose(): void {
    if (this.refs === 0) return;
    if (--this.refs === 0) this.owner.releaseTensor(this);
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}
