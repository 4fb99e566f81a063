// React hook owning the dataset worker: what is loaded (the built-in synthetic set until a dataset is
// dropped), its validation report or the error that stopped it, and previews of usable rows.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { DroppedEntry } from '../data/drop-browser.ts';
import type { ValidationReport } from '../data/validation-report.ts';
import type { DatasetRequest, DatasetResponse, OpenOptions, PreviewRow } from './dataset-protocol.ts';

export const SYNTHETIC_SEED = 0;
export const SYNTHETIC_COUNT = 1000;

export type DatasetState =
  | { status: 'synthetic'; count: number; seed: number }
  | { status: 'opening'; name: string; files: number }
  | { status: 'opened'; name: string; report: ValidationReport }
  | { status: 'failed'; name: string; error: { name: string; message: string } };

type Distributive<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = Distributive<DatasetRequest>;

/** A name for what was dropped: the one top-level folder or file, else a count. */
function nameOf(entries: readonly DroppedEntry[]): string {
  const tops = new Set(entries.map((e) => e.path.split('/')[0]));
  return tops.size === 1 ? ([...tops][0] as string) : `${entries.length} files`;
}

export function useDataset() {
  const worker = useRef<Worker | undefined>(undefined);
  const nextId = useRef(0);
  const waiting = useRef(new Map<number, (r: DatasetResponse) => void>());
  const lastEntries = useRef<DroppedEntry[]>([]);
  const lastOptions = useRef<OpenOptions>({});
  const [state, setState] = useState<DatasetState>({
    status: 'synthetic',
    count: SYNTHETIC_COUNT,
    seed: SYNTHETIC_SEED,
  });
  const [preview, setPreview] = useState<PreviewRow | { error: string } | undefined>(undefined);

  const send = useCallback((req: Request): Promise<DatasetResponse> => {
    if (worker.current === undefined) {
      const w = new Worker(new URL('./dataset-worker.ts', import.meta.url), { type: 'module' });
      w.onmessage = (event: MessageEvent<DatasetResponse>) => {
        const done = waiting.current.get(event.data.id);
        waiting.current.delete(event.data.id);
        done?.(event.data);
      };
      worker.current = w;
      // The worker starts on the built-in set, as the app does.
      const id = ++nextId.current;
      w.postMessage({
        type: 'synthetic',
        id,
        seed: SYNTHETIC_SEED,
        count: SYNTHETIC_COUNT,
      } satisfies DatasetRequest);
    }
    const id = ++nextId.current;
    return new Promise((resolve) => {
      waiting.current.set(id, resolve);
      worker.current?.postMessage({ ...req, id } as DatasetRequest);
    });
  }, []);

  useEffect(
    () => () => {
      worker.current?.terminate();
      worker.current = undefined;
      waiting.current.clear();
    },
    [],
  );

  const showPreview = useCallback(
    async (index: number) => {
      const r = await send({ type: 'preview', index });
      if (r.type === 'preview') setPreview(r.row);
      else if (r.type === 'error') setPreview({ error: r.error.message });
    },
    [send],
  );

  const open = useCallback(
    async (entries: DroppedEntry[], options: OpenOptions = {}) => {
      if (entries.length === 0) return;
      lastEntries.current = entries;
      lastOptions.current = options;
      const name = nameOf(entries);
      setPreview(undefined);
      setState({ status: 'opening', name, files: entries.length });
      const r = await send({ type: 'open', entries, options });
      if (r.type === 'opened') {
        setState({ status: 'opened', name, report: r.report });
        if (r.report.usable > 0) await showPreview(0);
      } else if (r.type === 'error') setState({ status: 'failed', name, error: r.error });
    },
    [send, showPreview],
  );

  /** Opens the last drop again with some options changed (a split, a box format, field names). */
  const reopen = useCallback(
    (changes: OpenOptions) => open(lastEntries.current, { ...lastOptions.current, ...changes }),
    [open],
  );

  const chooseSynthetic = useCallback(async () => {
    setPreview(undefined);
    const r = await send({ type: 'synthetic', seed: SYNTHETIC_SEED, count: SYNTHETIC_COUNT });
    if (r.type === 'synthetic') {
      setState({ status: 'synthetic', count: r.count, seed: r.seed });
      await showPreview(0);
    }
  }, [send, showPreview]);

  return { state, preview, open, reopen, chooseSynthetic, showPreview };
}
