// Buffer pool. Buffers are bucketed by size class and reused; nothing waits for GC.
// A buffer released while commands that use it are still unsubmitted may be handed to a kernel that
// writes it on the GPU (command order keeps that safe), but not to a host upload: queue.writeBuffer
// would land before those earlier commands run. Such buffers wait in `recycled` until the next submit.

/** Rounds a byte count up to its size class: powers of two up to 4 KiB, then quarter steps. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  if (b <= 4096) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** Math.floor(Math.log2(b)) / 4;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  /** Bytes held by live (acquired) buffers. */
  liveBytes: number;
  peakLiveBytes: number;
  /** Bytes held in the pool, ready for reuse. */
  pooledBytes: number;
  /** The largest single buffer ever created. */
  largestBuffer: number;
  created: number;
  reused: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly recycled = new Map<number, GPUBuffer[]>();
  private readonly stats: PoolStats = {
    liveBytes: 0,
    peakLiveBytes: 0,
    pooledBytes: 0,
    largestBuffer: 0,
    created: 0,
    reused: 0,
  };

  constructor(private readonly create: (size: number) => GPUBuffer) {}

  /** A buffer of at least `bytes`; `hostWrite` when the caller will fill it with queue.writeBuffer. */
  acquire(bytes: number, hostWrite: boolean): GPUBuffer {
    const size = sizeClass(bytes);
    const buffer = take(this.free, size) ?? (hostWrite ? undefined : take(this.recycled, size));
    if (buffer) {
      this.stats.reused++;
      this.stats.pooledBytes -= size;
    }
    const out = buffer ?? this.create(size);
    if (!buffer) {
      this.stats.created++;
      this.stats.largestBuffer = Math.max(this.stats.largestBuffer, size);
    }
    this.stats.liveBytes += size;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    return out;
  }

  /** Returns a buffer; `pending` when unsubmitted commands may still use it. */
  release(buffer: GPUBuffer, pending: boolean): void {
    const size = buffer.size;
    this.stats.liveBytes -= size;
    this.stats.pooledBytes += size;
    put(pending ? this.recycled : this.free, size, buffer);
  }

  /** Called after a submit: every recycled buffer is now safe for host writes. */
  settle(): void {
    for (const [size, list] of this.recycled) for (const b of list) put(this.free, size, b);
    this.recycled.clear();
  }

  /** Destroys every pooled buffer (live ones are untouched). */
  trim(): void {
    for (const map of [this.free, this.recycled]) {
      for (const list of map.values()) for (const b of list) b.destroy();
      map.clear();
    }
    this.stats.pooledBytes = 0;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }
}

function take(map: Map<number, GPUBuffer[]>, size: number): GPUBuffer | undefined {
  return map.get(size)?.pop();
}

function put(map: Map<number, GPUBuffer[]>, size: number, b: GPUBuffer): void {
  const list = map.get(size);
  if (list) list.push(b);
  else map.set(size, [b]);
}
