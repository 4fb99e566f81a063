// Choices made for a layout of rows (field names, box format), kept in the browser's localStorage and
// used again when a dataset with the same row fields is dropped. A layout is its sorted field names.

import type { OpenOptions } from '../grpo/worker/protocol.ts';

const KEY = 'vgrpo.dataset-layouts';
/** Layouts kept; the oldest is forgotten first. */
const KEPT = 50;

type Remembered = Pick<OpenOptions, 'fields' | 'boxFormat'>;
type Store = { layout: string; choice: Remembered }[];

const layoutKey = (columns: readonly string[]) => [...columns].sort().join('\u0000');

function load(): Store {
  try {
    const parsed: unknown = JSON.parse(globalThis.localStorage?.getItem(KEY) ?? '[]');
    return Array.isArray(parsed) ? (parsed as Store) : [];
  } catch {
    return [];
  }
}

/** What was chosen for rows with these fields, if anything. */
export function recallLayout(columns: readonly string[]): Remembered | undefined {
  const key = layoutKey(columns);
  return load().find((e) => e.layout === key)?.choice;
}

/** Keeps the field names and box format chosen for rows with these fields (a split is not kept). */
export function rememberLayout(columns: readonly string[], options: OpenOptions): void {
  const choice: Remembered = {};
  if (options.fields !== undefined && Object.keys(options.fields).length > 0) choice.fields = options.fields;
  if (options.boxFormat !== undefined) choice.boxFormat = options.boxFormat;
  if (choice.fields === undefined && choice.boxFormat === undefined) return;
  const key = layoutKey(columns);
  const kept = [{ layout: key, choice }, ...load().filter((e) => e.layout !== key)].slice(0, KEPT);
  try {
    globalThis.localStorage?.setItem(KEY, JSON.stringify(kept));
  } catch {
    // Storage full or disabled: the choice is simply not remembered.
  }
}
