// Every completion the run has produced as one table row, and the table's filters: a text search over
// the question and the row id, format failures only, and a lowest total reward.
import type { SampleRecord } from '../../../grpo/trainer.ts';

export interface SampleRow {
  /** Unique within the run: `${step}/${index of the record in the run}/${completion}`. */
  key: string;
  step: number;
  id: string;
  question: string;
  /** 1-based, among the prompt's G completions. */
  completion: number;
  text: string;
  reward: number | null;
  iou: number | null;
  /** The format reward is 0 or, without one, the answer could not be parsed. */
  formatFailed: boolean;
  parseError: string | null;
  advantage: number;
}

export function sampleRows(records: readonly SampleRecord[]): SampleRow[] {
  const rows: SampleRow[] = [];
  records.forEach((r, i) => {
    r.completions.forEach((c, k) => {
      const format = c.rewards.format;
      rows.push({
        key: `${r.step}/${i}/${k}`,
        step: r.step,
        id: r.id,
        question: r.question,
        completion: k + 1,
        text: c.text,
        reward: c.reward,
        iou: c.iou,
        formatFailed: format === undefined ? c.parseError !== null : format === 0,
        parseError: c.parseError,
        advantage: c.advantage,
      });
    });
  });
  return rows;
}

export interface SampleFilter {
  search: string;
  formatFailures: boolean;
  /** Rows with a lower (or no) total reward are left out; null keeps all. */
  minReward: number | null;
}

export const NO_FILTER: SampleFilter = { search: '', formatFailures: false, minReward: null };

export function filterRows(rows: readonly SampleRow[], filter: SampleFilter): SampleRow[] {
  const needle = filter.search.trim().toLowerCase();
  return rows.filter(
    (r) =>
      (needle === '' || r.question.toLowerCase().includes(needle) || r.id.toLowerCase().includes(needle)) &&
      (!filter.formatFailures || r.formatFailed) &&
      (filter.minReward === null || (r.reward !== null && r.reward >= filter.minReward)),
  );
}
