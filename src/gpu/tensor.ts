// Tensor: a shape, a dtype and a pooled GPU buffer. Created, read and released through a Gpu context.

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export type HostArray = Float32Array | Int32Array | Uint32Array;

/**
 * A [rows, ...] tensor stored as blocks of whole rows, each in its own buffer: weights larger than the
 * device's maxBufferSize. Ops that take one (embedding lookups, a matmul's B) read each block; every
 * other op refuses it.
 */
export interface RowBlocks {
  /** Rows of every block but the last. */
  rows: number;
  parts: readonly Tensor[];
}

/** What a tensor needs from its owner; implemented by Gpu. */
export interface TensorOwner {
  /** The tensor has no reference left: release its buffer. */
  releaseTensor(t: Tensor): void;
  /** The creator's reference was dropped: the tensor leaves the open scopes. */
  forgetScoped(t: Tensor): void;
}

export class Tensor {
  readonly size: number;
  /** Whether the creator's reference (the one dispose() drops, and scopes drop for it) is still held. */
  private owned = true;
  /** References held by others through retain() (saved activations, views). */
  private retains = 0;

  constructor(
    readonly owner: TensorOwner,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly blocks?: RowBlocks,
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

  /** Whether the buffer has been released (no reference of any kind is left). */
  get isDisposed(): boolean {
    return !this.owned && this.retains === 0;
  }

  /** Holds the tensor alive beyond its creator's dispose() (saved activations, views); pair with release(). */
  retain(): this {
    if (this.isDisposed) throw new Error(`retain() of a disposed tensor [${this.shape}]`);
    this.retains++;
    return this;
  }

  release(): void {
    if (this.retains === 0) return;
    this.retains--;
    if (this.isDisposed) this.owner.releaseTensor(this);
  }

  /** Drops the creator's reference (idempotent); the buffer returns to the pool once nothing retains it. */
  dispose(): void {
    if (!this.owned) return;
    this.owned = false;
    this.owner.forgetScoped(this);
    if (this.isDisposed) this.owner.releaseTensor(this);
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
