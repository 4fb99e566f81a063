// A completion split for display: the reasoning inside <think>...</think>, the answer inside
// <answer>...</answer>, the tags themselves, and any other text. The prompt's prefill normally opens
// <think>, so a completion starts inside the reasoning when the prefill's last tag is an open <think>.

export type PartKind = 'think' | 'answer' | 'tag' | 'text';

export interface CompletionPart {
  kind: PartKind;
  text: string;
}

const TAG = /<\/?(?:think|answer)>/g;

export function completionParts(completion: string, prefill = ''): CompletionPart[] {
  const open = prefill.lastIndexOf('<think>');
  let inside: 'think' | 'answer' | null = open >= 0 && prefill.indexOf('</think>', open) < 0 ? 'think' : null;
  const parts: CompletionPart[] = [];
  const push = (kind: PartKind, text: string) => {
    if (text === '') return;
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) last.text += text;
    else parts.push({ kind, text });
  };
  let at = 0;
  for (const m of completion.matchAll(TAG)) {
    push(inside ?? 'text', completion.slice(at, m.index));
    push('tag', m[0]);
    const name = m[0].replace(/[</>]/g, '') as 'think' | 'answer';
    if (m[0].startsWith('</')) {
      if (inside === name) inside = null;
    } else {
      inside = name;
    }
    at = m.index + m[0].length;
  }
  push(inside ?? 'text', completion.slice(at));
  return parts;
}
