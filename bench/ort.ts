// The onnxruntime-web side of the matmul and attention benchmarks: one MatMul or MultiHeadAttention node
// (bench/onnx-model.ts) run by ONNX Runtime Web on its WebGPU EP, on our Dawn device with GPU-resident
// inputs and output, and MatMul on its wasm EP (one thread, CPU tensors). Node only, on Dawn (the
// `webgpu` npm package, globals installed).
//
// Which onnxruntime-web build (1.30): in Node the package's "." entry resolves to a wasm-only build, so the
// WebGPU EP comes from 'onnxruntime-web/webgpu' (the C++ WebGPU EP compiled to asyncify wasm, where a
// device is handed over as the `device` option of the 'webgpu' EP; `env.webgpu.device` is not read) and
// the wasm EP from 'onnxruntime-web'. Each entry bundles its own copy of onnxruntime-common, so each has
// its own `env`. Both find their .wasm next to their own file; no wasmPaths needed.
import type * as Ort from 'onnxruntime-web';
import { filled } from './fill.ts';
import { attentionModel, matmulModel } from './onnx-model.ts';

export interface OrtMatmulBench {
  /** One session.run; on the WebGPU EP it may resolve before its GPU work is done. */
  run(): Promise<void>;
  /** Resolves when the GPU work of every run so far is done. */
  wait(): Promise<void>;
  dispose(): Promise<void>;
}

type OrtModule = typeof Ort;

function configure(ort: OrtModule): OrtModule {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return ort;
}

// ORT's wasm memory is a SharedArrayBuffer (the builds are pthread builds) and it uploads through views
// of it; Dawn node crashes the process (SIGSEGV) on a SharedArrayBuffer view, so copy those first.
const patchedQueues = new WeakSet<GPUQueue>();
function copySharedWrites(queue: GPUQueue): void {
  if (patchedQueues.has(queue)) return;
  patchedQueues.add(queue);
  const writeBuffer = queue.writeBuffer;
  type Data = Parameters<GPUQueue['writeBuffer']>[2];
  const unshared = (data: Data): Data => {
    if (data instanceof SharedArrayBuffer) return new Uint8Array(data).slice().buffer;
    if (!ArrayBuffer.isView(data) || !(data.buffer instanceof SharedArrayBuffer)) return data;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
    if (data instanceof DataView) return new DataView(bytes);
    // Same element type, so that dataOffset and size (counted in elements) keep their meaning.
    const View = data.constructor as new (buffer: ArrayBuffer) => ArrayBufferView<ArrayBuffer>;
    return new View(bytes);
  };
  queue.writeBuffer = function (buffer, offset, data, dataOffset, size) {
    return writeBuffer.call(this, buffer, offset, unshared(data), dataOffset, size);
  };
}

let webgpuOrt: Promise<OrtModule> | undefined;
let webgpuStarted = false;

/** Runs `fn` with V8's wasm tier-up off (Node only). Measured here (Node 20, 2 cores): the WebGPU build's
 *  first session and run make V8 tier up some huge (asyncify-instrumented) function of its wasm with
 *  TurboFan, ~30-40 s of background CPU. While the event loop is idle Node blocks the main thread until
 *  that job ends (the first run() took ~30 s); otherwise it takes a core from whatever is being timed.
 *  Code compiled under --liftoff-only stays on Liftoff, which leaves ORT WebGPU's matmul speed unchanged
 *  (its CPU side is light). --liftoff-only also switches off wasm-tier-up and wasm-dynamic-tiering
 *  (flag implications), so those are switched back on; leaving them off halves the wasm EP's speed.
 *  Skipped when the user set any of these flags. */
const TIERING_FLAGS = /--(no-)?(liftoff-only|wasm-tier-up|wasm-dynamic-tiering)\b/;
async function withoutWasmTierUp<T>(fn: () => Promise<T>): Promise<T> {
  if (typeof process === 'undefined' || !process.versions?.node) return fn();
  if (TIERING_FLAGS.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '))) return fn();
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--liftoff-only');
  try {
    return await fn();
  } finally {
    v8.setFlagsFromString('--no-liftoff-only --wasm-tier-up --wasm-dynamic-tiering');
  }
}

/** MatMul [m,k]x[k,n] f32 on ORT's WebGPU EP, on the given Dawn GPUDevice; inputs and output stay GPU buffers
 *  (Tensor.fromGpuBuffer inputs, preferredOutputLocation 'gpu-buffer'); wait() is the queue's
 *  onSubmittedWorkDone. The process's first call also does one run itself, under withoutWasmTierUp. */
export function ortWebgpuMatmul(device: GPUDevice, m: number, k: number, n: number): Promise<OrtMatmulBench> {
  return ortWebgpuRun(device, matmulModel(m, k, n), {
    A: [m, k],
    B: [k, n],
  });
}

/** MultiHeadAttention forward on ORT's WebGPU EP over [1, S, heads * headDim] inputs, as ortWebgpuMatmul. */
export function ortWebgpuAttention(
  device: GPUDevice,
  seq: number,
  heads: number,
  headDim: number,
  causal: boolean,
): Promise<OrtMatmulBench> {
  const dims = [1, seq, heads * headDim];
  return ortWebgpuRun(device, attentionModel(seq, heads, headDim, causal), { Q: dims, K: dims, V: dims });
}

async function ortWebgpuRun(
  device: GPUDevice,
  model: Uint8Array,
  inputs: Record<string, number[]>,
): Promise<OrtMatmulBench> {
  if (typeof GPUDevice === 'undefined' || !(device instanceof GPUDevice)) {
    throw new Error(
      'the ORT WebGPU benchmarks need the WebGPU globals (GPUDevice, ...) installed, as src/gpu/node.ts does',
    );
  }
  webgpuOrt ??= import('onnxruntime-web/webgpu').then(configure);
  const ort = await webgpuOrt;
  copySharedWrites(device.queue);

  const make = async (): Promise<OrtMatmulBench> => {
    const session = await createWebgpuSession(ort, device, model);
    const buffers: GPUBuffer[] = [];
    const feeds: Record<string, Ort.Tensor> = {};
    Object.entries(inputs).forEach(([name, dims], i) => {
      const data = filled(
        dims.reduce((a, b) => a * b, 1),
        i + 1,
      );
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      const buffer = device.createBuffer({ size: data.byteLength, usage });
      device.queue.writeBuffer(buffer, 0, data);
      buffers.push(buffer);
      feeds[name] = ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims });
    });
    return {
      async run() {
        const { Y } = await session.run(feeds);
        Y?.dispose();
      },
      wait: () => device.queue.onSubmittedWorkDone(),
      async dispose() {
        await session.release();
        for (const b of buffers) b.destroy();
      },
    };
  };
  if (webgpuStarted) return make();
  webgpuStarted = true;
  return withoutWasmTierUp(async () => {
    const bench = await make();
    await bench.run(); // the first run compiles the rest of ORT's code path; keep it inside the scope
    await bench.wait();
    return bench;
  });
}

/** The first WebGPU session initialises the EP: ORT insists on `navigator.gpu` and, without
 *  `env.webgpu.adapter`, asks it for an adapter it does not use when given a device. Node 20 has no
 *  `navigator`, so a stand-in is installed for that moment only. */
async function createWebgpuSession(
  ort: OrtModule,
  device: GPUDevice,
  model: Uint8Array,
): Promise<Ort.InferenceSession> {
  const options: Ort.InferenceSession.SessionOptions = {
    executionProviders: [{ name: 'webgpu', device }],
    preferredOutputLocation: 'gpu-buffer',
    graphOptimizationLevel: 'all',
    // Fail rather than quietly run a node on the CPU EP: the rows are about ORT's WebGPU kernels.
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  };
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return ort.InferenceSession.create(model, options);
  if (!ort.env.webgpu.adapter) {
    const stand: Pick<GPUAdapter, 'features' | 'limits' | 'requestDevice'> = {
      features: device.features,
      limits: device.limits,
      requestDevice: async () => device,
    };
    ort.env.webgpu.adapter = stand as GPUAdapter;
  }
  const saved = Object.getOwnPropertyDescriptor(g, 'navigator');
  Object.defineProperty(g, 'navigator', {
    value: { ...g.navigator, gpu: {} },
    configurable: true,
    writable: true,
  });
  try {
    return await ort.InferenceSession.create(model, options);
  } finally {
    if (saved) Object.defineProperty(g, 'navigator', saved);
    else delete g.navigator;
  }
}

let wasmOrt: Promise<OrtModule> | undefined;

/** Same MatMul on ORT's wasm EP (single thread; CPU tensors in/out). */
export async function ortWasmMatmul(m: number, k: number, n: number): Promise<OrtMatmulBench> {
  wasmOrt ??= import('onnxruntime-web').then(configure);
  const ort = await wasmOrt;
  const session = await ort.InferenceSession.create(matmulModel(m, k, n), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = {
    A: new ort.Tensor('float32', filled(m * k, 1), [m, k]),
    B: new ort.Tensor('float32', filled(k * n, 2), [k, n]),
  };
  return {
    async run() {
      await session.run(feeds);
    },
    wait: async () => {},
    async dispose() {
      await session.release();
    },
  };
}
