// The app shell: header, then the WebGPU adapter panel (or a page explaining how to get WebGPU) and
// the dataset panel, which works without WebGPU.
import { AdapterPanel } from './AdapterPanel.tsx';
import { DatasetPanel } from './DatasetPanel.tsx';
import { DeviceLostBanner } from './DeviceLostBanner.tsx';
import { NoWebGpu } from './NoWebGpu.tsx';
import { useGpu } from './useGpu.ts';

export function App() {
  const state = useGpu();
  return (
    <div className="app">
      <header className="app-header">
        <h1>vision-grpo</h1>
        <p>GRPO fine-tuning of Qwen-VL grounding models, on WebGPU, in your browser</p>
      </header>
      <main className="app-main">
        {state.status === 'loading' && (
          <p className="muted" data-testid="gpu-loading">
            Requesting a WebGPU device…
          </p>
        )}
        {state.status === 'failed' && <NoWebGpu error={state.error} />}
        {state.status === 'ready' && (
          <>
            {state.lost && <DeviceLostBanner info={state.lost} />}
            <AdapterPanel summary={state.gpu.adapter} />
          </>
        )}
        {state.status !== 'loading' && <DatasetPanel />}
      </main>
    </div>
  );
}
