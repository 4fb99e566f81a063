// Draws a `vgrpo train` run as an SVG chart (for the README): the training reward per logged step (thin,
// with its moving average), and the held-out Acc@0.5 and mean IoU of eval.jsonl, against the step; and
// writes the curve as JSON with the run's settings (from its newest checkpoint) and training time.
//
//   node --import ./bin/register.js scripts/plot-run.ts RUN_DIR OUT.svg [OUT.json]

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Row = Record<string, number | null>;

const lines = (path: string): Row[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);

function movingAverage(ys: number[], k: number): number[] {
  return ys.map((_, i) => {
    const from = Math.max(0, i - k + 1);
    const w = ys.slice(from, i + 1);
    return w.reduce((a, b) => a + b, 0) / w.length;
  });
}

/** The run's settings as its newest checkpoint recorded them (config and run), or nothing without one. */
function lastCheckpointState(dir: string): Record<string, unknown> {
  const steps = readdirSync(dir)
    .map((name) => /^checkpoint-(\d+)$/.exec(name)?.[1])
    .filter((step): step is string => step !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
  if (steps.length === 0) return {};
  const state = JSON.parse(readFileSync(join(dir, `checkpoint-${steps[0]}`, 'trainer_state.json'), 'utf8'));
  return { config: state.config, run: state.run };
}

export function plotRun(metrics: Row[], evals: Row[], title: string): string {
  const W = 720;
  const H = 360;
  const m = { l: 56, r: 150, t: 36, b: 44 };
  const maxStep = Math.max(1, ...metrics.map((r) => r.step ?? 0), ...evals.map((r) => r.step ?? 0));
  const x = (s: number) => m.l + (s / maxStep) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - v * (H - m.t - m.b);
  const path = (pts: [number, number][]) =>
    pts.map(([s, v], i) => `${i ? 'L' : 'M'}${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const reward = metrics
    .filter((r) => typeof r.reward === 'number')
    .map((r) => [r.step!, r.reward!] as [number, number]);
  const smooth = movingAverage(
    reward.map((p) => p[1]),
    20,
  ).map((v, i) => [reward[i]![0], v] as [number, number]);
  // Rewards sum several functions: scale by the largest seen so the curve shares the 0-1 axis.
  const top = Math.max(1, ...reward.map((p) => p[1]));
  const scaled = (pts: [number, number][]) => pts.map(([s, v]) => [s, v / top] as [number, number]);
  const acc = evals.map((r) => [r.step!, r.acc50!] as [number, number]);
  const iou = evals.map((r) => [r.step!, r.mean_iou!] as [number, number]);
  const series: [string, string, [number, number][], number][] = [
    [`reward / ${top.toFixed(0)} (train, 20-step mean)`, '#2b7bb9', scaled(smooth), 2],
    ['Acc@0.5 (held out, greedy)', '#d1495b', acc, 2.5],
    ['mean IoU (held out)', '#edae49', iou, 2.5],
  ];
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (v) =>
        `<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
        `<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`,
    )
    .join('');
  const ticks = Array.from({ length: 6 }, (_, i) => Math.round((i * maxStep) / 5))
    .map((s) => `<text x="${x(s)}" y="${H - m.b + 18}" text-anchor="middle">${s}</text>`)
    .join('');
  const legend = series
    .map(
      ([name, colour], i) =>
        `<line x1="${W - m.r + 10}" x2="${W - m.r + 28}" y1="${m.t + 14 + i * 20}" y2="${m.t + 14 + i * 20}" stroke="${colour}" stroke-width="3"/>` +
        `<text x="${W - m.r + 32}" y="${m.t + 18 + i * 20}">${name}</text>`,
    )
    .join('');
  const curves = series
    .map(([, colour, pts, width]) =>
      pts.length ? `<path d="${path(pts)}" fill="none" stroke="${colour}" stroke-width="${width}"/>` : '',
    )
    .join('');
  const dots = [...acc.map((p) => ['#d1495b', p]), ...iou.map((p) => ['#edae49', p])]
    .map(([c, p]) => {
      const [s, v] = p as [number, number];
      return `<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${c}"/>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<title>${title}: training reward, held-out Acc@0.5 and mean IoU against the step</title>
<rect width="${W}" height="${H}" fill="white"/>
<text x="${m.l}" y="20" font-size="13" font-weight="bold">${title}</text>
${grid}${ticks}
<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">optimiser step</text>
${curves}${dots}${legend}
</svg>
`;
}

if (process.argv[1]?.endsWith('plot-run.ts')) {
  const [dir, svg, json] = process.argv.slice(2);
  if (!dir || !svg) {
    process.stderr.write('usage: plot-run.ts RUN_DIR OUT.svg [OUT.json]\n');
    process.exit(2);
  }
  const metrics = lines(join(dir, 'metrics.jsonl'));
  const evals = lines(join(dir, 'eval.jsonl'));
  writeFileSync(svg, plotRun(metrics, evals, 'GRPO on nano, synthetic nano task'));
  if (json)
    writeFileSync(
      json,
      `${JSON.stringify(
        {
          eval: evals,
          reward: metrics.map((r) => ({
            step: r.step,
            reward: r.reward,
            loss: r.loss,
            step_time: r.step_time,
          })),
          train_seconds: metrics.reduce((a, r) => a + (r.step_time ?? 0), 0),
          ...lastCheckpointState(dir),
        },
        null,
        2,
      )}\n`,
    );
  process.stderr.write(`wrote ${svg}\n`);
}
