// The GPU context: a device with its buffer pool, kernel cache and command batching. Every dispatch is
// recorded into one command encoder; the batch is submitted at sync points (a readback, `flush`, `sync`)
// or when it grows past `maxDispatchesPerSubmit`. Errors raised asynchronously by WebGPU (compile,
// validation, out-of-memory) are collected and thrown, typed, at the next sync point.

import type { AdapterSummary } from './adapter.ts';
import { BindGroupCache } from './bind-groups.ts';
import { DeviceLostError, GpuError, GpuValidationError, OutOfMemoryError, ShapeError } from './errors.ts';
import { fromF16Array, toF16Array } from './half.ts';
import { type CompiledKernel, type Kernel, KernelCache, type Variant } from './kernel.ts';
import { BufferPool, sizeClass } from './pool.ts';
import { Profiler } from './profiler.ts';
import { DTYPE_BYTES, type DType, type HostArray, numel, Tensor, type TensorOwner } from './tensor.ts';
import { UniformArena } from './uniforms.ts';

export interface GpuOptions {
  /** Time every kernel with timestamp queries (needs the timestamp-query feature). */
  profile?: boolean;
  /** Submit automatically after this many recorded dispatches (default 1024). */
  maxDispatchesPerSubmit?: number;
  /** Treat storage bindings above this many bytes as too large (default and cap: the device limit). */
  maxBindingSize?: number;
  /** Lowers maxBufferSize below the device's (tests of row-blocked weights). */
  maxBufferSize?: number;
}

/** A storage binding: a whole tensor, or a byte range of one. */
export type Binding = Tensor | { tensor: Tensor; offset: number; size: number };

export interface Dispatch {
  kernel: Kernel;
  variant?: Variant;
  /** Bytes of the kernel's uniform params struct, bound at @binding(0). */
  params: ArrayBuffer;
  /** Storage buffers, bound at @binding(1), @binding(2), ... */
  bindings: readonly Binding[];
  workgroups: readonly [number, number?, number?];
}

const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class Gpu implements TensorOwner {
  readonly kernels: KernelCache;
  readonly pool: BufferPool;
  readonly profiler: Profiler | undefined;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  /**
   * A CPU adapter (lavapipe, SwiftShader) with subgroups of at least 8 lanes: it runs invocations as SIMD
   * lanes, where per-invocation loads and workgroup barriers are costly, and the *_sg kernels (matmul,
   * attention) share values through subgroup operations instead.
   */
  readonly prefersSubgroupKernels: boolean;
  readonly maxBindingSize: number;
  /** The largest buffer this context allocates: the device's maxBufferSize, or lower when asked. */
  readonly maxBufferSize: number;

  private readonly uniforms: UniformArena;
  private readonly bindGroups: BindGroupCache;
  private readonly maxDispatches: number;
  private readonly scopes: Set<Tensor>[] = [];
  private readonly checks: Promise<Error | undefined>[] = [];
  private readonly errors: Error[] = [];
  private readonly staging = new Map<number, GPUBuffer[]>();
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private recorded = 0;
  private dummyTensor: Tensor | undefined;
  private lost: DeviceLostError | undefined;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    options: GpuOptions = {},
  ) {
    this.hasF16 = device.features.has('shader-f16');
    this.hasSubgroups = device.features.has('subgroups');
    this.hasTimestamps = device.features.has('timestamp-query');
    this.prefersSubgroupKernels = adapter.isFallback && this.hasSubgroups && adapter.subgroupMinSize >= 8;
    this.maxBindingSize = Math.min(
      device.limits.maxStorageBufferBindingSize,
      options.maxBindingSize ?? Infinity,
    );
    this.maxBufferSize = Math.min(device.limits.maxBufferSize, options.maxBufferSize ?? Infinity);
    this.maxDispatches = options.maxDispatchesPerSubmit ?? 1024;
    this.kernels = new KernelCache(device, this.hasF16, (c) => this.checks.push(c));
    this.pool = new BufferPool((size) => this.createBuffer(size, STORAGE_USAGE(), 'tensor'));
    this.uniforms = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment);
    this.bindGroups = new BindGroupCache(device);
    if (options.profile) {
      if (!this.hasTimestamps)
        throw new GpuError('Profiling needs the timestamp-query feature, which this adapter lacks.');
      this.profiler = new Profiler(device);
    }
    device.lost.then((info) => {
      if (!this.destroyed) this.lost = new DeviceLostError(info.reason ?? 'unknown', info.message);
      else this.lost = new DeviceLostError('destroyed', 'the runtime was shut down');
    });
    device.addEventListener('uncapturederror', (ev) => {
      this.errors.push(toGpuError((ev as GPUUncapturedErrorEvent).error, 0));
    });
  }

  // ---- tensors ----

  /** An uninitialised tensor (its buffer may hold an earlier tensor's data). */
  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.makeTensor(shape, dtype, false);
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = this.makeTensor(shape, dtype, false);
    this.endPass();
    this.currentEncoder().clearBuffer(t.buffer, 0, t.bindSize);
    return t;
  }

  /** A tensor holding `data` (numbers are converted to the dtype; f16 is rounded to nearest). */
  tensor(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = this.makeTensor(shape, dtype, true);
    if (data.length !== t.size) {
      t.dispose();
      throw new ShapeError(`tensor: ${data.length} values do not fill shape [${shape}] (${t.size} elements)`);
    }
    this.device.queue.writeBuffer(t.buffer, 0, hostBytes(data, dtype));
    return t;
  }

  /** Overwrites a tensor's contents. Submits recorded work first so earlier kernels see the old values. */
  write(t: Tensor, data: ArrayLike<number>): void {
    this.assertLive(t);
    if (data.length !== t.size) throw new ShapeError(`write: ${data.length} values for ${t.size} elements`);
    if (this.recorded > 0 || this.encoder) this.flush();
    this.device.queue.writeBuffer(t.buffer, 0, hostBytes(data, t.dtype));
  }

  /**
   * An uninitialised tensor to fill with writeRows (weights being loaded): one buffer when it fits
   * maxBufferSize, otherwise blocks of whole rows (along the first dimension) in buffers of their own.
   */
  rowsTensor(shape: readonly number[], dtype: DType): Tensor {
    const rowBytes = numel(shape.slice(1)) * DTYPE_BYTES[dtype];
    const rows = shape[0] ?? 1;
    const fits = (n: number) =>
      sizeClass(Math.max(4, Math.ceil((n * rowBytes) / 4) * 4)) <= this.maxBufferSize;
    if (shape.length < 2 || fits(rows)) return this.makeTensor(shape, dtype, true);
    // Size classes round up by at most a quarter.
    let per = Math.floor((this.maxBufferSize * 0.8) / rowBytes);
    while (per > 1 && !fits(per + 1)) per--;
    while (fits(per + 1)) per++;
    if (per < 1 || !fits(per))
      throw new OutOfMemoryError(
        rowBytes,
        `one row of [${shape}] is over this device's maxBufferSize of ${this.maxBufferSize} bytes`,
      );
    const parts: Tensor[] = [];
    try {
      for (let r = 0; r < rows; r += per)
        parts.push(this.keep(this.makeTensor([Math.min(per, rows - r), ...shape.slice(1)], dtype, true)));
    } catch (e) {
      for (const p of parts) p.dispose();
      throw e;
    }
    const t = new Tensor(new BlocksOwner(this, parts), this.dummy.buffer, [...shape], dtype, {
      rows: per,
      parts,
    });
    this.scopes.at(-1)?.add(t);
    return t;
  }

  /** Writes whole rows from `row` on (data: a multiple of one row's elements), across blocks if need be. */
  writeRows(t: Tensor, row: number, data: HostArray): void {
    this.assertLive(t);
    const perRow = numel(t.shape.slice(1));
    const rows = data.length / perRow;
    if (!Number.isInteger(rows) || row < 0 || row + rows > (t.shape[0] ?? 1))
      throw new ShapeError(`writeRows: ${data.length} values at row ${row} do not fit [${t.shape}]`);
    if (this.recorded > 0 || this.encoder) this.flush();
    const parts = t.blocks ? t.blocks.parts : [t];
    const per = t.blocks ? t.blocks.rows : (t.shape[0] ?? 1);
    for (let r = row; r < row + rows; ) {
      const part = Math.floor(r / per);
      const end = Math.min(row + rows, (part + 1) * per);
      const bytes = hostBytes(data.subarray((r - row) * perRow, (end - row) * perRow), t.dtype);
      const at = (r - part * per) * perRow * DTYPE_BYTES[t.dtype];
      if (at % 4 !== 0)
        throw new ShapeError(
          `writeRows: row ${r} of [${t.shape}] ${t.dtype} starts off a 4-byte boundary; write an even number of rows`,
        );
      this.device.queue.writeBuffer(parts[part]!.buffer, at, bytes);
      r = end;
    }
  }

  /** Copies a tensor to the host. f16 tensors come back as Float32Array. */
  async read(t: Tensor): Promise<HostArray> {
    this.assertLive(t);
    if (t.blocks) {
      const parts = await Promise.all(t.blocks.parts.map((p) => this.read(p)));
      const out = new (parts[0]!.constructor as new (n: number) => HostArray)(t.size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    }
    const bytes = t.bindSize;
    const size = sizeClass(bytes);
    const stage =
      this.staging.get(size)?.pop() ??
      this.createBuffer(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.endPass();
    this.currentEncoder().copyBufferToBuffer(t.buffer, 0, stage, 0, bytes);
    this.flush();
    try {
      await stage.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      this.throwIfLost();
      await this.surfaceErrors();
      throw e;
    }
    const raw = stage.getMappedRange(0, bytes).slice(0);
    stage.unmap();
    const list = this.staging.get(size);
    if (list) list.push(stage);
    else this.staging.set(size, [stage]);
    await this.surfaceErrors();
    switch (t.dtype) {
      case 'f32':
        return new Float32Array(raw, 0, t.size);
      case 'i32':
        return new Int32Array(raw, 0, t.size);
      case 'u32':
        return new Uint32Array(raw, 0, t.size);
      case 'f16':
        return fromF16Array(new Uint16Array(raw, 0, t.size));
    }
  }

  /** Runs `fn`; every tensor it creates is disposed at the end unless returned (or inside what it returns) or kept. */
  scope<T>(fn: () => T): T {
    const set = new Set<Tensor>();
    this.scopes.push(set);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.scopes.pop();
      for (const t of set) t.dispose();
      throw e;
    }
    this.scopes.pop();
    if (result instanceof Promise)
      throw new GpuError('scope() takes a synchronous function; use scopeAsync()');
    this.closeScope(set, result);
    return result;
  }

  /** scope() for async functions. Scopes must not interleave: await one before opening a sibling. */
  async scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
    const set = new Set<Tensor>();
    this.scopes.push(set);
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      this.scopes.splice(this.scopes.lastIndexOf(set), 1);
      for (const t of set) t.dispose();
      throw e;
    }
    this.scopes.splice(this.scopes.lastIndexOf(set), 1);
    this.closeScope(set, result);
    return result;
  }

  /** The same buffer under another shape with as many elements; it holds a reference to `x`. */
  view(x: Tensor, shape: readonly number[]): Tensor {
    this.assertLive(x);
    if (x.blocks) return this.blockedView(x, shape);
    if (numel(shape) !== x.size)
      throw new ShapeError(`view: [${shape}] does not hold the ${x.size} elements of [${x.shape}]`);
    x.retain();
    const v = new Tensor(new ViewOwner(this, x), x.buffer, [...shape], x.dtype);
    this.scopes.at(-1)?.add(v);
    return v;
  }

  /** A view of a row-blocked tensor that keeps its rows: views of its blocks. */
  private blockedView(x: Tensor, shape: readonly number[]): Tensor {
    if (shape[0] !== x.shape[0])
      throw new ShapeError(
        `view: [${x.shape}] is stored in row blocks; a view [${shape}] must keep its rows`,
      );
    const { rows, parts } = x.blocks!;
    const views = parts.map((p) => this.keep(this.view(p, [p.shape[0]!, ...shape.slice(1)])));
    x.retain();
    const v = new Tensor(new BlocksOwner(this, views, x), this.dummy.buffer, [...shape], x.dtype, {
      rows,
      parts: views,
    });
    this.scopes.at(-1)?.add(v);
    return v;
  }

  /** Takes a tensor out of every open scope, so only an explicit dispose releases it. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /** Removes a released tensor from the open scopes. */
  forgetScoped(t: Tensor): void {
    for (const s of this.scopes) s.delete(t);
  }

  releaseTensor(t: Tensor): void {
    if (this.destroyed) return;
    this.pool.release(t.buffer, this.encoder !== undefined);
  }

  // ---- kernels ----

  /** Records one dispatch into the current batch. */
  dispatch(d: Dispatch): void {
    this.throwIfLost();
    const compiled: CompiledKernel = this.kernels.get(d.kernel, d.variant);
    const slot = this.uniforms.alloc(d.params);
    const entries = [{ buffer: slot.buffer, offset: slot.offset, size: slot.size }];
    d.bindings.forEach((b, i) => {
      const { tensor, offset, size } = b instanceof Tensor ? { tensor: b, offset: 0, size: b.bindSize } : b;
      this.assertLive(tensor);
      if (tensor.blocks)
        throw new ShapeError(
          `${d.kernel.name}: binding ${i + 1} [${tensor.shape}] is stored in row blocks (it is over maxBufferSize); ` +
            'this op cannot read it',
        );
      if (size > this.maxBindingSize) {
        throw new ShapeError(
          `${d.kernel.name}: binding ${i + 1} is ${size} bytes, over this device's maxStorageBufferBindingSize ` +
            `(${this.maxBindingSize}); the op must split it`,
        );
      }
      entries.push({ buffer: tensor.buffer, offset, size });
    });
    const bindGroup = this.bindGroups.get(compiled.pipeline, entries);
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max)
      throw new ShapeError(`${d.kernel.name}: grid [${x}, ${y}, ${z}] over ${max} per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    let pass: GPUComputePassEncoder;
    if (this.profiler) {
      this.endPass();
      if (this.profiler.full) this.flush();
      pass = this.currentEncoder().beginComputePass({
        timestampWrites: this.profiler.nextPass(d.kernel.name),
      });
      this.pass = pass;
    } else {
      pass = this.currentPass();
    }
    pass.setPipeline(compiled.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    if (++this.recorded >= this.maxDispatches) this.flush();
  }

  /** A 16-byte placeholder for bindings a kernel variant does not read; never released. */
  get dummy(): Tensor {
    if (!this.dummyTensor) {
      const buffer = this.createBuffer(16, STORAGE_USAGE(), 'dummy');
      this.dummyTensor = new Tensor({ releaseTensor: () => {}, forgetScoped: () => {} }, buffer, [4], 'f32');
    }
    return this.dummyTensor;
  }

  /** Splits `count` workgroups over x and y so neither exceeds the device limit. */
  grid(count: number): [number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (count <= max) return [count, 1];
    const y = Math.ceil(count / max);
    return [Math.ceil(count / y), y];
  }

  // ---- submission and sync ----

  /** Submits the recorded batch. */
  flush(): void {
    this.throwIfLost();
    if (!this.encoder) return;
    this.endPass();
    const encoder = this.encoder;
    const afterSubmit = this.profiler?.resolve(encoder);
    this.encoder = undefined;
    this.recorded = 0;
    this.uniforms.upload(this.device.queue);
    this.device.queue.submit([encoder.finish()]);
    afterSubmit?.();
    this.pool.settle();
  }

  /** Submits and waits for the GPU; throws any error raised since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfLost();
    await this.surfaceErrors();
  }

  get isLost(): boolean {
    return this.lost !== undefined;
  }

  /** Waits for the device-lost promise to settle (after destroy or a driver reset). */
  async lostReason(): Promise<string> {
    const info = await this.device.lost;
    return info.reason ?? 'unknown';
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.profiler?.destroy();
    this.pool.trim();
    this.uniforms.destroy();
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    this.dummyTensor?.buffer.destroy();
    this.device.destroy();
  }

  // ---- internals ----

  private makeTensor(shape: readonly number[], dtype: DType, hostWrite: boolean): Tensor {
    this.throwIfLost();
    const bytes = Math.max(4, Math.ceil((numel(shape) * DTYPE_BYTES[dtype]) / 4) * 4);
    const t = new Tensor(this, this.pool.acquire(bytes, hostWrite), [...shape], dtype);
    this.scopes.at(-1)?.add(t);
    return t;
  }

  private createBuffer(size: number, usage: number, label: string): GPUBuffer {
    this.throwIfLost();
    const max = this.maxBufferSize;
    if (size > max) throw new OutOfMemoryError(size, `over this device's maxBufferSize of ${max} bytes`);
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ label, size, usage });
    this.checks.push(this.device.popErrorScope().then((err) => (err ? toGpuError(err, size) : undefined)));
    return buffer;
  }

  private currentEncoder(): GPUCommandEncoder {
    this.throwIfLost();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private currentPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.currentEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  private closeScope(set: Set<Tensor>, result: unknown): void {
    const kept = new Set<Tensor>();
    collectTensors(result, kept);
    const parent = this.scopes.at(-1);
    for (const t of set) {
      if (kept.has(t)) parent?.add(t);
      else t.dispose();
    }
  }

  private assertLive(t: Tensor): void {
    this.throwIfLost();
    if (t.isDisposed) throw new GpuError(`tensor [${t.shape}] ${t.dtype} was used after dispose()`);
    const viewOf = t.owner instanceof ViewOwner || t.owner instanceof BlocksOwner ? t.owner.gpu : undefined;
    if (t.owner !== this && viewOf !== this && t !== this.dummyTensor) {
      throw new GpuError('tensor belongs to another GPU context');
    }
  }

  private throwIfLost(): void {
    if (this.lost) throw this.lost;
    if (this.destroyed) throw new DeviceLostError('destroyed', 'the runtime was shut down');
  }

  private async surfaceErrors(): Promise<void> {
    const results = await Promise.all(this.checks.splice(0));
    const found = [...results.filter((e): e is Error => e !== undefined), ...this.errors.splice(0)];
    if (found.length === 0) return;
    // A compile error explains the validation errors that follow from it: report it first.
    found.sort((a, b) => rank(a) - rank(b));
    throw found[0];
  }
}

/** Owner of a view: releasing the view drops its reference to the base tensor. */
/** Owns a row-blocked tensor's blocks (and, for a view, holds its base): they go when it does. */
class BlocksOwner implements TensorOwner {
  constructor(
    readonly gpu: Gpu,
    readonly parts: Tensor[],
    readonly base?: Tensor,
  ) {}

  releaseTensor(): void {
    for (const p of this.parts) p.dispose();
    this.base?.release();
  }

  forgetScoped(t: Tensor): void {
    this.gpu.forgetScoped(t);
  }
}

class ViewOwner implements TensorOwner {
  constructor(
    readonly gpu: Gpu,
    readonly base: Tensor,
  ) {}

  releaseTensor(): void {
    this.base.release();
  }

  forgetScoped(v: Tensor): void {
    this.gpu.forgetScoped(v);
  }
}

function rank(e: Error): number {
  if (e.name === 'ShaderCompileError') return 0;
  if (e instanceof OutOfMemoryError) return 1;
  return 2;
}

function toGpuError(err: GPUError, bytes: number): Error {
  if (err.constructor.name === 'GPUOutOfMemoryError' || /out of memory/i.test(err.message)) {
    return new OutOfMemoryError(bytes, err.message);
  }
  return new GpuValidationError(err.message);
}

function hostBytes(data: ArrayLike<number>, dtype: DType): ArrayBufferView<ArrayBuffer> {
  let view:
    | Float32Array<ArrayBuffer>
    | Int32Array<ArrayBuffer>
    | Uint32Array<ArrayBuffer>
    | Uint16Array<ArrayBuffer>;
  switch (dtype) {
    case 'f32':
      view =
        data instanceof Float32Array && data.buffer instanceof ArrayBuffer
          ? (data as Float32Array<ArrayBuffer>)
          : Float32Array.from(data);
      break;
    case 'i32':
      view = Int32Array.from(data);
      break;
    case 'u32':
      view = Uint32Array.from(data);
      break;
    case 'f16':
      view = toF16Array(data);
      break;
  }
  if (view.byteLength % 4 === 0) return view;
  const padded = new Uint8Array(Math.ceil(view.byteLength / 4) * 4);
  padded.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return padded;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype)
    for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
}
