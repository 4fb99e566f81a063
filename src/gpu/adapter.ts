// Adapter selection and device creation, shared by the browser and Node. The caller passes the GPU
// object (navigator.gpu in the browser, src/gpu/node.ts on Node), so this file imports no platform code.
import { NoAdapterError } from './errors.ts';

/** Features the runtime uses when the adapter offers them. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits the runtime raises to the adapter's maximum. */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software (CPU) adapter such as lavapipe or SwiftShader. */
  isFallback: boolean;
  features: string[];
  limits: Record<string, number>;
  /** Subgroup sizes the adapter may use (0 when it does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export function summariseAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) limits[name] = adapter.limits[name];
  limits.minStorageBufferOffsetAlignment = adapter.limits.minStorageBufferOffsetAlignment;
  limits.minUniformBufferOffsetAlignment = adapter.limits.minUniformBufferOffsetAlignment;
  const extra = info as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const infoFallback = extra.isFallbackAdapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallback: infoFallback ?? info.architecture === 'software',
    features: [...adapter.features].map(String).sort(),
    limits,
    subgroupMinSize: extra.subgroupMinSize ?? 0,
    subgroupMaxSize: extra.subgroupMaxSize ?? 0,
  };
}

export function adapterLabel(s: AdapterSummary): string {
  const name = s.description || [s.vendor, s.architecture, s.device].filter(Boolean).join(' ') || 'unknown';
  return `${name}${s.isFallback ? ' (software)' : ''}`;
}

/** Prefers a hardware adapter; falls back to a software one only when nothing else is there. */
export async function pickAdapter(gpu: GPU, fixHint: string): Promise<GPUAdapter> {
  const hardware = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (hardware && !summariseAdapter(hardware).isFallback) return hardware;
  const any = hardware ?? (await gpu.requestAdapter({ forceFallbackAdapter: true }));
  if (!any) throw new NoAdapterError(`No WebGPU adapter is available. ${fixHint}`);
  return any;
}

export interface DeviceRequest {
  device: GPUDevice;
  adapter: GPUAdapter;
  summary: AdapterSummary;
}

/** Requests a device with the adapter's maximum buffer limits and every optional feature it has. */
export async function requestDevice(adapter: GPUAdapter, label = 'vision-grpo'): Promise<DeviceRequest> {
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ label, requiredFeatures, requiredLimits });
  return { device, adapter, summary: summariseAdapter(adapter) };
}
