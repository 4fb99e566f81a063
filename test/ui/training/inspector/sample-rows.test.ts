// The samples table's rows (one per completion) and its filters, and one sample's history across steps.
import { describe, expect, it } from 'vitest';
import type { CompletionRecord, SampleRecord } from '../../../../src/grpo/trainer.ts';
import { sampleHistory } from '../../../../src/ui/training/inspector/sample-history.ts';
import { filterRows, NO_FILTER, sampleRows } from '../../../../src/ui/training/inspector/sample-rows.ts';

function completion(
  reward: number | null,
  format: number | undefined,
  parseError: string | null = null,
): CompletionRecord {
  return {
    text: 'x',
    tokens: 3,
    terminated: true,
    box: null,
    boxPixels: null,
    parseError,
    iou: reward,
    rewards: format === undefined ? { iou: reward } : { grounding: 0, format },
    reward,
    advantage: 0.5,
  };
}

function record(step: number, id: string, question: string, completions: CompletionRecord[]): SampleRecord {
  return {
    step,
    id,
    question,
    box: [0, 0, 1, 1],
    frame: { width: 9, height: 9, inputWidth: 9, inputHeight: 9 },
    completions,
  };
}

const RECORDS = [
  record(1, 'synthetic-0-3', 'Where is the red circle?', [completion(2, 1), completion(0, 0)]),
  record(2, 'synthetic-0-9', 'Find the BLUE star.', [completion(1, 1), completion(null, 0, 'no box')]),
  record(2, 'synthetic-0-3', 'Where is the red circle?', [
    completion(0.4, undefined),
    completion(0, undefined, 'no box'),
  ]),
];

describe('sampleRows', () => {
  it('gives one row per completion with a unique key, even for a prompt seen twice', () => {
    const rows = sampleRows(RECORDS);
    expect(rows).toHaveLength(6);
    expect(new Set(rows.map((r) => r.key)).size).toBe(6);
    expect(rows[1]).toMatchObject({
      step: 1,
      id: 'synthetic-0-3',
      completion: 2,
      reward: 0,
      formatFailed: true,
    });
    expect(rows[0]!.formatFailed).toBe(false);
    // Without a format reward, an unparsed answer counts as a format failure.
    expect(rows[4]!.formatFailed).toBe(false);
    expect(rows[5]!.formatFailed).toBe(true);
  });
});

describe('filterRows', () => {
  const rows = sampleRows(RECORDS);
  it('keeps everything without a filter', () => {
    expect(filterRows(rows, NO_FILTER)).toHaveLength(6);
  });
  it('searches questions and ids, ignoring case', () => {
    expect(filterRows(rows, { ...NO_FILTER, search: 'blue' }).map((r) => r.id)).toEqual([
      'synthetic-0-9',
      'synthetic-0-9',
    ]);
    expect(filterRows(rows, { ...NO_FILTER, search: ' 0-3 ' })).toHaveLength(4);
  });
  it('keeps format failures only', () => {
    expect(filterRows(rows, { ...NO_FILTER, formatFailures: true }).map((r) => r.key)).toEqual([
      '1/0/1',
      '2/1/1',
      '2/2/1',
    ]);
  });
  it('keeps rewards at or above the minimum, never unscorable ones', () => {
    expect(filterRows(rows, { ...NO_FILTER, minReward: 1 }).map((r) => r.reward)).toEqual([2, 1]);
    expect(filterRows(rows, { ...NO_FILTER, minReward: -5 })).toHaveLength(5);
  });
});

describe('sampleHistory', () => {
  it('summarises each step that drew the sample: mean and best reward, best IoU, format kept', () => {
    expect(sampleHistory(RECORDS, 'synthetic-0-3')).toEqual([
      { step: 1, meanReward: 1, bestReward: 2, bestIou: 2, formatted: 1, completions: 2 },
      { step: 2, meanReward: 0.2, bestReward: 0.4, bestIou: 0.4, formatted: 1, completions: 2 },
    ]);
    // An unscorable completion (null) is left out of the means, not counted as 0.
    expect(sampleHistory(RECORDS, 'synthetic-0-9')).toEqual([
      { step: 2, meanReward: 1, bestReward: 1, bestIou: 1, formatted: 1, completions: 2 },
    ]);
    expect(sampleHistory(RECORDS, 'nope')).toEqual([]);
  });
});
