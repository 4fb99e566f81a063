// Writes the nano checkpoint's SFT rows for scripts/make-nano-checkpoint.py: synthetic grounding rows of
// the nano task (src/data/synthetic.ts NANO_TASK), each as the prompt ids the product builds (chat template,
// image placeholders, assistant prefill), the reference completion's ids (src/grpo/sft.ts, pixel box space,
// list form, end-of-turn appended) and the raw RGB image, which the recipe preprocesses with transformers'
// own Qwen2-VL image processor.
//
//   node --import ./bin/register.js scripts/nano-sft-rows.ts --seed N --rows N --out FILE_PREFIX [--reasoning scene|target]
//   -> FILE_PREFIX.jsonl (one row per line) and FILE_PREFIX.rgb (width * height * 3 bytes per row)

import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPromptModel } from '../src/cli/model-input.ts';
import { NANO_TASK, type ReasoningStyle, syntheticDataset } from '../src/data/synthetic.ts';
import { buildTrainingPrompt } from '../src/grpo/rollout.ts';
import { referenceCompletion } from '../src/grpo/sft.ts';
import { toRgb } from '../src/model/image-processor.ts';
import { DEFAULT_PREFILL } from '../src/model/prompt.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    rows: { type: 'string' },
    out: { type: 'string' },
    reasoning: { type: 'string', default: 'scene' },
  },
});
if (values.seed === undefined || values.rows === undefined || values.out === undefined) {
  throw new Error('usage: nano-sft-rows.ts --seed N --rows N --out FILE_PREFIX');
}
const model = await loadPromptModel('nano');
const endOfTurn = model.config.tokens.eosTokenIds[0]!;
const meta = openSync(`${values.out}.jsonl`, 'w');
const pixels = openSync(`${values.out}.rgb`, 'w');
const task = { ...NANO_TASK, reasoning: values.reasoning as ReasoningStyle };
for (const row of syntheticDataset(Number(values.seed), Number(values.rows), task)) {
  const prompt = await buildTrainingPrompt(model, row, {
    systemPrompt: null,
    prefill: DEFAULT_PREFILL,
    minPixels: null,
    maxPixels: null,
  });
  const answer = [...model.tokenizer.encode(referenceCompletion(prompt, 'pixels', 'list')), endOfTurn];
  const line = {
    id: row.id,
    question: row.question,
    box: row.box,
    width: row.width,
    height: row.height,
    prompt_ids: Array.from(prompt.inputIds),
    answer_ids: answer,
    grid: prompt.image.grid,
  };
  writeSync(meta, `${JSON.stringify(line)}\n`);
  writeSync(pixels, toRgb(await row.image()));
}
closeSync(meta);
closeSync(pixels);
