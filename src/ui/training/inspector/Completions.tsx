// The selected prompt's G completions: the reasoning and the answer highlighted, parse status, IoU, every
// reward, the total (with its colour) and the advantage; then that sample's history across the run.
import { Fragment } from 'react';
import { type RunView, viewConfig } from '../run-store.ts';
import { useRun } from '../useRun.ts';
import { completionParts } from './completion-parts.ts';
import { rewardColour, rewardRange } from './reward-colour.ts';
import { sampleHistory } from './sample-history.ts';

const num = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

export function Completions({ run }: { run: RunView }) {
  const selected = useRun((s) => s.selected);
  const index = Math.min(selected?.prompt ?? 0, run.batch.length - 1);
  const record = run.batch[index];
  const config = viewConfig(run);
  if (!record || !config) return null;
  const range = rewardRange(config);
  const names = config.reward_funcs;
  return (
    <div className="completions" data-testid="completions">
      <h3>
        {record.question} <span className="muted">({record.id})</span>
      </h3>
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">completion</th>
            <th scope="col">IoU</th>
            {names.map((n) => (
              <th scope="col" key={n}>
                {n}
              </th>
            ))}
            <th scope="col">total</th>
            <th scope="col">advantage</th>
          </tr>
        </thead>
        <tbody>
          {record.completions.map((c, k) => (
            <tr
              // Completions are fixed once reported: their index is their identity.
              // biome-ignore lint/suspicious/noArrayIndexKey: see above
              key={k}
              className={selected?.prompt === index && selected.completion === k ? 'selected' : undefined}
              data-testid="completion-row"
            >
              <td>{k + 1}</td>
              <td className="completion-text">
                {completionParts(c.text, config.assistant_prefill).map((p, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: parts of a fixed text
                  <Fragment key={i}>
                    <span className={`part-${p.kind}`}>{p.text}</span>
                  </Fragment>
                ))}
                {c.parseError && <span className="parse-error"> ({c.parseError})</span>}
              </td>
              <td>{num(c.iou)}</td>
              {names.map((n) => (
                <td key={n}>{num(c.rewards[n] ?? null, 2)}</td>
              ))}
              <td>
                <span className="swatch" style={{ borderColor: rewardColour(c.reward, range) }} />{' '}
                {num(c.reward)}
              </td>
              <td>{num(c.advantage)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <History run={run} id={record.id} />
    </div>
  );
}

function History({ run, id }: { run: RunView; id: string }) {
  const points = sampleHistory(run.records, id);
  if (points.length < 2) return null;
  return (
    <details className="sample-history" data-testid="sample-history">
      <summary>
        This sample across the run ({points.length} steps drew it): mean reward{' '}
        {points.map((p) => num(p.meanReward, 2)).join(' → ')}
      </summary>
      <table>
        <thead>
          <tr>
            <th scope="col">step</th>
            <th scope="col">mean reward</th>
            <th scope="col">best reward</th>
            <th scope="col">best IoU</th>
            <th scope="col">format kept</th>
          </tr>
        </thead>
        <tbody>
          {points.map((p) => (
            <tr key={p.step}>
              <td>{p.step}</td>
              <td>{num(p.meanReward)}</td>
              <td>{num(p.bestReward)}</td>
              <td>{num(p.bestIou)}</td>
              <td>
                {p.formatted} / {p.completions}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
