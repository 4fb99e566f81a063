// The run's live charts: one per group of chartGroups, from the per-step metrics.
import { useMemo } from 'react';
import { chartGroups, seriesData } from './chart-series.ts';
import { MetricChart } from './MetricChart.tsx';
import type { RunView } from './run-store.ts';

export function Charts({ run }: { run: RunView }) {
  const config = run.ready?.config;
  const groups = useMemo(() => (config ? chartGroups(config) : []), [config]);
  if (groups.length === 0 || run.history.length === 0) return null;
  return (
    <div className="charts" data-testid="charts">
      {groups.map((g) => (
        <MetricChart
          key={g.title}
          title={g.title}
          metrics={g.metrics}
          data={seriesData(run.history, g.metrics)}
        />
      ))}
    </div>
  );
}
