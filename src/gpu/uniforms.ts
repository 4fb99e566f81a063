// Uniform arena: every dispatch recorded between two submits gets its own slot in a 64 KiB chunk; the
// chunks are written with one queue.writeBuffer each just before the submit. Queue order makes reuse of
// the same chunks in the next batch safe.

const CHUNK_BYTES = 64 * 1024;

interface Chunk {
  buffer: GPUBuffer;
  staging: Uint8Array<ArrayBuffer>;
  used: number;
}

export interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class UniformArena {
  private readonly chunks: Chunk[] = [];
  private current = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly alignment: number,
  ) {}

  alloc(data: ArrayBuffer): UniformSlot {
    const size = data.byteLength;
    if (size > CHUNK_BYTES) throw new RangeError(`uniform params of ${size} bytes exceed ${CHUNK_BYTES}`);
    let chunk = this.chunks[this.current];
    if (chunk && chunk.used + size > CHUNK_BYTES) chunk = this.chunks[++this.current];
    if (!chunk) {
      chunk = {
        buffer: this.device.createBuffer({
          label: 'uniform-arena',
          size: CHUNK_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        staging: new Uint8Array(CHUNK_BYTES),
        used: 0,
      };
      this.chunks[this.current] = chunk;
    }
    const offset = chunk.used;
    chunk.staging.set(new Uint8Array(data), offset);
    chunk.used = Math.ceil((offset + size) / this.alignment) * this.alignment;
    return { buffer: chunk.buffer, offset, size };
  }

  /** Writes the slots of this batch to the GPU and starts a new batch. */
  upload(queue: GPUQueue): void {
    for (const c of this.chunks) {
      if (c.used > 0) queue.writeBuffer(c.buffer, 0, c.staging, 0, c.used);
      c.used = 0;
    }
    this.current = 0;
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
    this.chunks.length = 0;
  }
}
