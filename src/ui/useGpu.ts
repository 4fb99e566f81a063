// React hook that acquires the page's one WebGPU context and reports its state (loading, ready,
// failed, lost). The device is requested once per page, so StrictMode's double effects share it.
import { useEffect, useState } from 'react';
import { createBrowserGpu } from '../gpu/browser.ts';
import type { Gpu } from '../gpu/context.ts';

export type GpuState =
  | { status: 'loading' }
  | { status: 'ready'; gpu: Gpu; lost?: GPUDeviceLostInfo }
  | { status: 'failed'; error: Error };

let pending: Promise<Gpu> | undefined;

function acquireGpu(): Promise<Gpu> {
  pending ??= createBrowserGpu();
  return pending;
}

export function useGpu(): GpuState {
  const [state, setState] = useState<GpuState>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    acquireGpu().then(
      (gpu) => {
        if (!active) return;
        setState({ status: 'ready', gpu });
        gpu.device.lost.then((lost) => {
          if (active) setState({ status: 'ready', gpu, lost });
        });
      },
      (e: unknown) => {
        if (active) setState({ status: 'failed', error: e instanceof Error ? e : new Error(String(e)) });
      },
    );
    return () => {
      active = false;
    };
  }, []);
  return state;
}
