// WebGPU in Node through Dawn (the `webgpu` npm package). Imported only by Node entry points (CLI,
// tests, benchmarks), never by the browser bundle.
import { create, globals } from 'webgpu';
import {
  type AdapterSummary,
  adapterLabel,
  pickAdapter,
  requestDevice,
  summariseAdapter,
} from './adapter.ts';
import { Gpu, type GpuOptions } from './context.ts';

const FIX_HINT =
  'On Debian without a GPU run `sudo bash scripts/setup-system.sh` to install Mesa >= 24 ' +
  "(lavapipe, software Vulkan); Mesa 22's lavapipe is too old for Dawn. With a GPU, install its Vulkan driver.";

let nodeGpu: GPU | undefined;

/** The process-wide Dawn instance; also installs the WebGPU globals (GPUBufferUsage, ...). */
export function dawn(): GPU {
  if (!nodeGpu) {
    Object.assign(globalThis, globals);
    nodeGpu = create([]);
  }
  return nodeGpu;
}

export interface NodeGpuOptions extends GpuOptions {
  /** Print the adapter in use to stderr (default true). */
  announce?: boolean;
}

/** A runtime on the best adapter Dawn finds: hardware when there is one, lavapipe otherwise. */
export async function createNodeGpu(options: NodeGpuOptions = {}): Promise<Gpu> {
  const adapter = await pickAdapter(dawn(), FIX_HINT);
  const req = await requestDevice(adapter);
  if (options.announce ?? true) process.stderr.write(`WebGPU adapter: ${adapterLabel(req.summary)}\n`);
  return new Gpu(req.device, req.summary, options);
}

/** What the best adapter offers (features, limits), without creating a device. */
export async function nodeAdapterSummary(): Promise<AdapterSummary> {
  return summariseAdapter(await pickAdapter(dawn(), FIX_HINT));
}
