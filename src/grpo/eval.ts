// Evaluation on held-out rows as VLM-R1 reports it: greedy decoding, one completion per prompt, a
// prediction correct when its IoU with the ground truth is above 0.5 (Acc@0.5); also the mean IoU (0
// for an answer without a box) and the share of answers in the rewarded format. Prompts go through
// generation in batches; every sample's result is returned for inspection.

import type { Box, GroundingRow } from '../data/row.ts';
import type { Gpu } from '../gpu/context.ts';
import type { PromptModel } from '../model/prompt.ts';
import type { PolicyView } from './policy.ts';
import type { BoxSpace } from './rewards/answer.ts';
import { buildTrainingPrompt, type PromptSettings, rollout } from './rollout.ts';

export interface EvalSettings extends PromptSettings {
  space: BoxSpace;
  maxCompletionLength: number;
  stopIds: readonly number[];
  /** Prompts generated together (default 8). */
  batchSize?: number;
  /** Called after each batch with the rows done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface EvalSample {
  id: string;
  question: string;
  box: Box;
  text: string;
  boxPixels: Box | null;
  iou: number;
  format: boolean;
}

export interface EvalResult {
  n: number;
  /** Share of samples with IoU > 0.5. */
  acc50: number;
  mean_iou: number;
  format_rate: number;
  samples: EvalSample[];
}

/** Greedy answers to `rows` under `policy`, scored; see the file header. */
export async function evaluate(
  gpu: Gpu,
  model: PromptModel,
  policy: PolicyView,
  rows: readonly GroundingRow[],
  s: EvalSettings,
): Promise<EvalResult> {
  const batch = s.batchSize ?? 8;
  const samples: EvalSample[] = [];
  for (let start = 0; start < rows.length; start += batch) {
    const prompts = await Promise.all(
      rows.slice(start, start + batch).map((r) => buildTrainingPrompt(model, r, s)),
    );
    const completions = await rollout(
      gpu,
      model,
      policy,
      prompts,
      {
        numGenerations: 1,
        maxCompletionLength: s.maxCompletionLength,
        temperature: 0,
        topK: 0,
        topP: 1,
        seed: 0,
        stopIds: s.stopIds,
      },
      { rewardNames: ['format'], iouThreshold: 0.5, space: s.space },
    );
    completions.forEach((c, i) => {
      const row = prompts[i]!.row;
      samples.push({
        id: row.id,
        question: row.question,
        box: row.box,
        text: c.text,
        boxPixels: c.boxPixels,
        iou: c.iou ?? 0,
        format: c.rewards[0] === 1,
      });
    });
    s.onProgress?.(samples.length, rows.length);
  }
  const n = samples.length;
  const share = (f: (x: EvalSample) => number) => (n === 0 ? 0 : samples.reduce((a, x) => a + f(x), 0) / n);
  return {
    n,
    acc50: share((x) => (x.iou > 0.5 ? 1 : 0)),
    mean_iou: share((x) => x.iou),
    format_rate: share((x) => (x.format ? 1 : 0)),
    samples,
  };
}
