// The page shown when the app cannot get a WebGPU device: what failed and which browsers provide WebGPU.
import { BROWSER_HINT } from '../gpu/browser.ts';

export function NoWebGpu({ error }: { error: Error }) {
  // NoAdapterError messages already end with the hint; show it once, under its own heading.
  const detail = error.message.replace(BROWSER_HINT, '').trim();
  return (
    <section className="panel panel-error" data-testid="no-webgpu">
      <h2>WebGPU is not available</h2>
      <p data-testid="no-webgpu-error">
        <strong>{error.name}:</strong> {detail || 'no details'}
      </p>
      <h3>How to get WebGPU</h3>
      {!window.isSecureContext && (
        <p data-testid="no-webgpu-insecure">
          This page is not a secure context, and browsers offer WebGPU only to secure pages: open the app over
          https:// or from localhost / 127.0.0.1.
        </p>
      )}
      <p data-testid="no-webgpu-hint">{BROWSER_HINT}</p>
    </section>
  );
}
