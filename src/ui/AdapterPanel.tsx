// The WebGPU adapter the app got, as a compact badge (its name, which says when it is software) that opens
// on demand to its identity, its features (the ones the trainer uses highlighted) and the limits that bound
// model and batch sizes.
import { type AdapterSummary, adapterLabel, OPTIONAL_FEATURES } from '../gpu/adapter.ts';
import { formatBytes } from '../gpu/errors.ts';

const KEY_LIMITS: readonly { name: string; bytes: boolean }[] = [
  { name: 'maxBufferSize', bytes: true },
  { name: 'maxStorageBufferBindingSize', bytes: true },
  { name: 'maxComputeWorkgroupStorageSize', bytes: true },
  { name: 'maxComputeInvocationsPerWorkgroup', bytes: false },
  { name: 'maxComputeWorkgroupsPerDimension', bytes: false },
];

function formatLimit(value: number | undefined, bytes: boolean): string {
  if (value === undefined) return '—';
  return bytes ? formatBytes(value) : value.toLocaleString('en-US');
}

export function AdapterPanel({ summary }: { summary: AdapterSummary }) {
  const key = new Set<string>(OPTIONAL_FEATURES);
  const identity: [string, string][] = [
    ['Vendor', summary.vendor],
    ['Architecture', summary.architecture],
    ['Device', summary.device],
    ['Description', summary.description],
  ];
  return (
    <details className="adapter-badge" data-testid="adapter-panel">
      <summary>
        WebGPU: <span data-testid="adapter-label">{adapterLabel(summary)}</span>
      </summary>
      {summary.isFallback && (
        <p className="note" data-testid="adapter-software">
          This is a software (CPU) adapter: everything works, but training will be slow.
        </p>
      )}

      <dl className="facts">
        {identity.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>{value || <span className="muted">not reported</span>}</dd>
          </div>
        ))}
        <div>
          <dt>Software adapter</dt>
          <dd>{summary.isFallback ? 'yes' : 'no'}</dd>
        </div>
      </dl>

      <h3>Features used by the trainer</h3>
      <ul className="key-features" data-testid="key-features">
        {OPTIONAL_FEATURES.map((f) => {
          const present = summary.features.includes(f);
          return (
            <li key={f} className={present ? 'present' : 'absent'} data-present={present}>
              <span aria-hidden="true">{present ? '✓' : '✗'}</span> {f}
            </li>
          );
        })}
      </ul>

      <h3>Limits</h3>
      <table className="limits" data-testid="adapter-limits">
        <tbody>
          {KEY_LIMITS.map(({ name, bytes }) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td title={String(summary.limits[name] ?? '')}>{formatLimit(summary.limits[name], bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>All features ({summary.features.length})</h3>
      <ul className="features" data-testid="adapter-features">
        {summary.features.map((f) => (
          <li key={f} className={key.has(f) ? 'key' : undefined}>
            {f}
          </li>
        ))}
      </ul>
    </details>
  );
}
