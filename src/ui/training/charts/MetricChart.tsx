// One live chart (uPlot) of a few metrics against the optimiser step, redrawn as steps arrive.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type AlignedSeries, tickLabel } from './chart-series.ts';

const COLOURS = ['#3559c7', '#d9480f', '#2b8a3e', '#ae3ec9', '#0b7285'];
const WIDTH = 260;

const HEIGHT = 130;
const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];

export function MetricChart({
  title,
  metrics,
  data,
}: {
  title: string;
  metrics: string[];
  data: AlignedSeries;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = metrics.join('|');

  const latest = useRef(data);
  latest.current = data;

  // biome-ignore lint/correctness/useExhaustiveDependencies: the chart is rebuilt only when its series change
  useEffect(() => {
    if (!box.current) return;
    const chart = new uPlot(
      {
        width: WIDTH,
        height: HEIGHT,
        scales: { x: { time: false } },
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        axes: [
          // Steps are whole numbers.
          { size: 28, incrs: STEP_INCREMENTS },
          { size: 48, values: (_, splits) => splits.map(tickLabel) },
        ],
        series: [
          { label: 'step' },
          ...metrics.map((m, i) => ({
            label: m,
            stroke: COLOURS[i % COLOURS.length]!,
            width: 1.5,
            spanGaps: true,
          })),
        ],
      },
      latest.current as uPlot.AlignedData,
      box.current,
    );
    plot.current = chart;
    return () => {
      chart.destroy();
      plot.current = null;
    };
  }, [key]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  const points = data[1]?.filter((v) => v !== null).length ?? 0;
  return (
    <figure className="metric-chart" data-testid="metric-chart" data-title={title} data-points={points}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
