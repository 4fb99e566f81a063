// Arrow keys through the current batch: left / right to the previous / next prompt, up / down to the
// previous / next of its completions; stops at the ends.
import type { Selection } from '../run-store.ts';

/** The selection after `key`, or undefined when the key is not one of the arrows. */
export function nextSelection(
  selected: Selection | null,
  key: string,
  batch: readonly { completions: readonly unknown[] }[],
): Selection | null | undefined {
  if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(key)) return undefined;
  if (batch.length === 0) return null;
  const prompt = Math.min(selected?.prompt ?? 0, batch.length - 1);
  const count = batch[prompt]!.completions.length;
  const completion = Math.min(selected?.completion ?? 0, Math.max(0, count - 1));
  switch (key) {
    case 'ArrowRight':
      return {
        prompt: Math.min(batch.length - 1, prompt + 1),
        completion: prompt + 1 < batch.length ? 0 : completion,
      };
    case 'ArrowLeft':
      return { prompt: Math.max(0, prompt - 1), completion: prompt > 0 ? 0 : completion };
    case 'ArrowDown':
      return { prompt, completion: Math.min(Math.max(0, count - 1), completion + 1) };
    default:
      return { prompt, completion: Math.max(0, completion - 1) };
  }
}
