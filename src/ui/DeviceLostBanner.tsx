// Banner shown when the WebGPU device is lost (driver reset, GPU process crash, device destroyed).
export function DeviceLostBanner({ info }: { info: GPUDeviceLostInfo }) {
  return (
    <div className="banner banner-error" role="alert" data-testid="device-lost">
      The GPU device was lost ({info.reason ?? 'unknown'}
      {info.message ? `: ${info.message}` : ''}). Reload the page to get a new device.
    </div>
  );
}
