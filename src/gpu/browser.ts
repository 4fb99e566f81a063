// WebGPU in the browser: navigator.gpu, with a message that says how to get it when it is missing.
import { pickAdapter, requestDevice } from './adapter.ts';
import { Gpu, type GpuOptions } from './context.ts';
import { NoAdapterError } from './errors.ts';

export const BROWSER_HINT =
  'Use Chrome or Edge 113+ (Windows, macOS, ChromeOS, Android), Chrome on Linux with ' +
  'chrome://flags/#enable-unsafe-webgpu and Vulkan enabled, Safari 26+, or Firefox 141+ on Windows.';

export function browserGpu(): GPU {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new NoAdapterError(`This browser does not expose WebGPU (navigator.gpu). ${BROWSER_HINT}`);
  return gpu;
}

export async function createBrowserGpu(options: GpuOptions = {}): Promise<Gpu> {
  const adapter = await pickAdapter(browserGpu(), BROWSER_HINT);
  const req = await requestDevice(adapter);
  return new Gpu(req.device, req.summary, options);
}
