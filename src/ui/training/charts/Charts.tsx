// The run's live charts: one per group of chartGroups, from the per-step metrics, and the held-out
// evaluations' Acc@0.5 and mean IoU once there are some. They mount one per frame (useProgressive), as the
// first step brings a dozen, and redraw only when their steps change; given the deferred view, they skip the
// urgent pass of each run event (memo).
import { memo, useMemo } from 'react';
import { useProgressive } from '../../useProgressive.ts';
import { type RunView, viewConfig } from '../run-store.ts';
import { type AlignedSeries, type ChartGroup, chartGroups, EVAL_GROUP, seriesData } from './chart-series.ts';
import { MetricChart } from './MetricChart.tsx';

export const Charts = memo(function Charts({ run }: { run: RunView }) {
  const config = viewConfig(run);
  const groups = useMemo(() => (config ? chartGroups(config) : []), [config]);
  const perStep = useMemo(
    () => groups.map((g): [ChartGroup, AlignedSeries] => [g, seriesData(run.history, g.metrics)]),
    [groups, run.history],
  );
  const evals = useMemo(
    (): [ChartGroup, AlignedSeries][] =>
      run.evals.length > 0 ? [[EVAL_GROUP, seriesData(run.evals, EVAL_GROUP.metrics)]] : [],
    [run.evals],
  );
  const charts = run.history.length === 0 ? [] : [...evals, ...perStep];
  const shown = useProgressive(charts.length);
  if (shown === 0) return null;
  return (
    <div className="charts" data-testid="charts">
      {charts.slice(0, shown).map(([g, data]) => (
        <MetricChart key={g.title} title={g.title} metrics={g.metrics} data={data} />
      ))}
    </div>
  );
});
