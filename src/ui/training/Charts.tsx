// The run's live charts: one per group of chartGroups, from the per-step metrics, and the held-out
// evaluations' Acc@0.5 and mean IoU once there are some.
import { useMemo } from 'react';
import { chartGroups, EVAL_GROUP, seriesData } from './chart-series.ts';
import { MetricChart } from './MetricChart.tsx';
import type { RunView } from './run-store.ts';

export function Charts({ run }: { run: RunView }) {
  const config = run.ready?.config;
  const groups = useMemo(() => (config ? chartGroups(config) : []), [config]);
  if (groups.length === 0 || run.history.length === 0) return null;
  return (
    <div className="charts" data-testid="charts">
      {run.evals.length > 0 && (
        <MetricChart
          title={EVAL_GROUP.title}
          metrics={EVAL_GROUP.metrics}
          data={seriesData(run.evals, EVAL_GROUP.metrics)}
        />
      )}
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
