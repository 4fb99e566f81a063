// Optional per-kernel GPU timing on timestamp queries. When the profiler is on, each dispatch runs in
// its own compute pass with timestamps at the pass's start and end; each submit resolves its queries
// and reads them back asynchronously. `report()` waits for those reads and sums time per kernel.

const MAX_PASSES = 2048;

export interface KernelTime {
  kernel: string;
  calls: number;
  totalMs: number;
  meanMs: number;
}

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private labels: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { calls: number; ns: number }>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: MAX_PASSES * 2 });
  }

  get full(): boolean {
    return this.labels.length >= MAX_PASSES;
  }

  /** Timestamp writes for the next pass, which runs `kernel`. */
  nextPass(kernel: string): GPUComputePassTimestampWrites {
    const i = this.labels.length;
    this.labels.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve into the encoder about to be submitted; call `afterSubmit` once it is. */
  resolve(encoder: GPUCommandEncoder): (() => void) | undefined {
    const n = this.labels.length;
    if (n === 0) return undefined;
    const bytes = n * 2 * 8;
    const resolveBuf = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const readBuf = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.querySet, 0, n * 2, resolveBuf, 0);
    encoder.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, bytes);
    const labels = this.labels;
    this.labels = [];
    return () => {
      this.pending.push(
        readBuf.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(readBuf.getMappedRange().slice(0));
          readBuf.unmap();
          readBuf.destroy();
          resolveBuf.destroy();
          labels.forEach((label, i) => {
            const ns = Number(t[2 * i + 1]! - t[2 * i]!);
            const e = this.totals.get(label) ?? { calls: 0, ns: 0 };
            e.calls++;
            e.ns += Math.max(0, ns);
            this.totals.set(label, e);
          });
        }),
      );
    };
  }

  /** Time per kernel since the last reset, slowest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pending.splice(0));
    return [...this.totals.entries()]
      .map(([kernel, { calls, ns }]) => ({ kernel, calls, totalMs: ns / 1e6, meanMs: ns / 1e6 / calls }))
      .sort((a, b) => b.totalMs - a.totalMs);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
  }
}
