// Typed errors of the GPU runtime. Each says what went wrong and what the person can do about it;
// callers (the app, the CLI, the trainer) catch them by class and keep running.

export class GpuError extends Error {
  override name = 'GpuError';
}

/** No WebGPU implementation or no usable adapter. */
export class NoAdapterError extends GpuError {
  override name = 'NoAdapterError';
}

/** A WGSL kernel failed to compile; `file` and `line` point into kernels/. */
export class ShaderCompileError extends GpuError {
  override name = 'ShaderCompileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}

/** The GPU device was lost (driver reset, tab backgrounded too long, device destroyed). */
export class DeviceLostError extends GpuError {
  override name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(
      `The GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). ` +
        'Acquire a new device to continue; the last saved checkpoint is intact.',
    );
  }
}

/** An allocation the device could not satisfy. */
export class OutOfMemoryError extends GpuError {
  override name = 'OutOfMemoryError';
  constructor(
    readonly bytes: number,
    detail: string,
  ) {
    super(
      `Out of GPU memory allocating ${formatBytes(bytes)}${detail ? ` (${detail})` : ''}. ` +
        'Use a smaller model, fewer generations per prompt, shorter completions or smaller images.',
    );
  }
}

/** A WebGPU validation error not attributable to a kernel compile: a bug in an op, reported loudly. */
export class GpuValidationError extends GpuError {
  override name = 'GpuValidationError';
}

/** Shapes or dtypes an op cannot accept. */
export class ShapeError extends GpuError {
  override name = 'ShapeError';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}
