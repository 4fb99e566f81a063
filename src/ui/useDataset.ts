// React hook for the dataset panel, talking to the GRPO worker (which loads datasets for training too):
// what is loaded (the built-in synthetic set until a dataset is dropped), its validation report or the
// error that stopped it, and previews of usable rows.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { DroppedEntry } from '../data/files/drop-browser.ts';
import type { ValidationReport } from '../data/validation-report.ts';
import {
  type DatasetEvent,
  type DatasetRequest,
  isDatasetEvent,
  type OpenOptions,
  type PreviewRow,
} from '../grpo/worker/protocol.ts';
import { onWorkerEvent, postToWorker } from './grpo-worker.ts';

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

let nextId = 0;
/** Whether the worker has been put on the built-in set, as the panel starts. */
let initialised = false;

export function useDataset() {
  const waiting = useRef(new Map<number, (r: DatasetEvent) => void>());
  const lastEntries = useRef<DroppedEntry[]>([]);
  const lastOptions = useRef<OpenOptions>({});
  const [state, setState] = useState<DatasetState>({
    status: 'synthetic',
    count: SYNTHETIC_COUNT,
    seed: SYNTHETIC_SEED,
  });
  const [preview, setPreview] = useState<PreviewRow | { error: string } | undefined>(undefined);

  useEffect(() => {
    const pending = waiting.current;
    const off = onWorkerEvent((event) => {
      if (!isDatasetEvent(event)) return;
      const done = pending.get(event.id);
      pending.delete(event.id);
      done?.(event);
    });
    return () => {
      off();
      pending.clear();
    };
  }, []);

  const send = useCallback((req: Request): Promise<DatasetEvent> => {
    if (!initialised) {
      initialised = true;
      postToWorker({ type: 'dataset-synthetic', id: ++nextId, seed: SYNTHETIC_SEED, count: SYNTHETIC_COUNT });
    }
    const id = ++nextId;
    return new Promise((resolve) => {
      waiting.current.set(id, resolve);
      postToWorker({ ...req, id } as DatasetRequest);
    });
  }, []);

  const showPreview = useCallback(
    async (index: number) => {
      const r = await send({ type: 'dataset-preview', index });
      if (r.type === 'dataset-preview') setPreview(r.row);
      else if (r.type === 'dataset-error') setPreview({ error: r.error.message });
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
      const r = await send({ type: 'dataset-open', entries, options });
      if (r.type === 'dataset-opened') {
        setState({ status: 'opened', name, report: r.report });
        if (r.report.usable > 0) await showPreview(0);
      } else if (r.type === 'dataset-error') setState({ status: 'failed', name, error: r.error });
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
    const r = await send({ type: 'dataset-synthetic', seed: SYNTHETIC_SEED, count: SYNTHETIC_COUNT });
    if (r.type === 'dataset-synthetic') {
      setState({ status: 'synthetic', count: r.count, seed: r.seed });
      await showPreview(0);
    }
  }, [send, showPreview]);

  return { state, preview, open, reopen, chooseSynthetic, showPreview };
}
