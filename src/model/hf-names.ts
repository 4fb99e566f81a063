// HF parameter names of Qwen-VL checkpoints. Older transformers versions save `model.*` (decoder),
// `visual.*` (vision tower) and `lm_head.*`; newer ones save `model.language_model.*`,
// `model.visual.*` and `lm_head.*`. We use the older form as the canonical one.

const REWRITES: readonly (readonly [string, string])[] = [
  ['model.language_model.', 'model.'],
  ['model.visual.', 'visual.'],
];

/** Maps a parameter name in either layout to the canonical (older) layout. */
export function canonicalName(name: string): string {
  for (const [from, to] of REWRITES) {
    if (name.startsWith(from)) return to + name.slice(from.length);
  }
  return name;
}

/** Maps a canonical name to the newer layout (`model.language_model.*`, `model.visual.*`). */
export function nestedName(name: string): string {
  if (name.startsWith('model.language_model.') || name.startsWith('model.visual.')) return name;
  if (name.startsWith('model.')) return `model.language_model.${name.slice('model.'.length)}`;
  if (name.startsWith('visual.')) return `model.${name}`;
  return name;
}
