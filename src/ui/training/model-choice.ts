// The model a run trains, as the app chooses it: the built-in nano checkpoint, or a Hugging Face
// Qwen2-VL / Qwen2.5-VL folder dropped on the page or picked (its files go to the worker as they are;
// a PEFT adapter beside the weights is trained further).

import type { DroppedEntry } from '../../data/files/drop-browser.ts';
import type { ModelSource } from '../../grpo/worker/protocol.ts';

export interface ModelChoice {
  source: ModelSource;
  label: string;
}

export const NANO_MODEL: ModelChoice = { source: { kind: 'nano' }, label: 'the built-in nano model' };

/** A picked or dropped checkpoint folder, named after the folder. */
export function modelFromEntries(entries: readonly DroppedEntry[]): ModelChoice {
  const tops = new Set(entries.map((e) => (e.path.includes('/') ? e.path.split('/')[0] : '')));
  const folder = tops.size === 1 ? [...tops][0] : '';
  const adapter = entries.some((e) => e.file.name === 'adapter_config.json');
  const label = folder ? `the model in ${folder}` : `the dropped model (${entries.length} files)`;
  return {
    source: { kind: 'files', files: entries.map((e) => e.file) },
    label: adapter ? `${label} with its LoRA adapter` : label,
  };
}
