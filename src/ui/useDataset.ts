// React hook for the dataset panel, talking to the GRPO worker (which loads datasets for training too):
// what is loaded (the built-in synthetic set until a dataset is dropped), a drop being opened with its
// progress, the last drop that failed (the loaded dataset stays), and previews of usable rows. The
// newest drop or choice always wins over a slower earlier one. Field names and box formats chosen for
// a layout of rows are remembered (layout-memory.ts) and used again for the next drop of that layout.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { DroppedEntry } from '../data/files/drop-browser.ts';
import type { ValidationReport } from '../data/validation-report.ts';
import {
  type DatasetErrorInfo,
  type DatasetEvent,
  type DatasetRequest,
  type ImageSize,
  isDatasetEvent,
  type OpenOptions,
  type PreviewRow,
} from '../grpo/worker/protocol.ts';
import { onWorkerEvent, postToWorker, requestId } from './grpo-worker.ts';
import { recallLayout, rememberLayout } from './layout-memory.ts';

export const SYNTHETIC_SEED = 0;
export const SYNTHETIC_COUNT = 1000;

/** The dataset training uses: the synthetic set or the last drop that opened. */
export type DatasetState =
  | { status: 'synthetic'; count: number; seed: number }
  | {
      status: 'opened';
      name: string;
      report: ValidationReport;
      remembered: boolean;
      /** The usable image with the most pixels, for the memory estimate. */
      largestImage: ImageSize | null;
    };

/** A drop being read: rows indexed so far of those whose image is checked (once known). */
export interface Opening {
  name: string;
  files: number;
  indexed?: number;
  total?: number;
}

/** The last drop that could not be opened; what was loaded before it stays loaded. */
export interface Failure {
  name: string;
  error: DatasetErrorInfo;
}

type Distributive<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = Distributive<DatasetRequest>;

/** A name for what was dropped: the one top-level folder or file, else a count. */
function nameOf(entries: readonly DroppedEntry[]): string {
  const tops = new Set(entries.map((e) => e.path.split('/')[0]));
  return tops.size === 1 ? ([...tops][0] as string) : `${entries.length} files`;
}

/** Whether the worker has been put on the built-in set, as the panel starts. */
let initialised = false;

export function useDataset() {
  const waiting = useRef(new Map<number, (r: DatasetEvent) => void>());
  /** The id of the newest open or synthetic choice: replies to older ones are dropped. */
  const latest = useRef(0);
  const lastEntries = useRef<DroppedEntry[]>([]);
  const lastOptions = useRef<OpenOptions>({});
  const [state, setState] = useState<DatasetState>({
    status: 'synthetic',
    count: SYNTHETIC_COUNT,
    seed: SYNTHETIC_SEED,
  });
  const [opening, setOpening] = useState<Opening | undefined>(undefined);
  const [failure, setFailure] = useState<Failure | undefined>(undefined);
  const [preview, setPreview] = useState<PreviewRow | { error: string } | undefined>(undefined);

  useEffect(() => {
    const pending = waiting.current;
    const off = onWorkerEvent((event) => {
      if (!isDatasetEvent(event)) return;
      if (event.type === 'dataset-progress') {
        if (event.id === latest.current)
          setOpening((o) => (o === undefined ? o : { ...o, indexed: event.indexed, total: event.total }));
        return;
      }
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
      postToWorker({
        type: 'dataset-synthetic',
        id: requestId(),
        seed: SYNTHETIC_SEED,
        count: SYNTHETIC_COUNT,
      });
    }
    const id = requestId();
    if (req.type !== 'dataset-preview') latest.current = id;
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

  /** One usable row for a thumbnail, without changing the preview shown. */
  const previewRow = useCallback(
    async (index: number): Promise<PreviewRow | { error: string }> => {
      const r = await send({ type: 'dataset-preview', index });
      if (r.type === 'dataset-preview') return r.row;
      return { error: r.type === 'dataset-error' ? r.error.message : `row ${index} is not available` };
    },
    [send],
  );

  /** Shows an open's outcome: the dataset it opened, or its failure beside what stays loaded. */
  const settle = useCallback(
    (entries: DroppedEntry[], options: OpenOptions, name: string, r: DatasetEvent, remembered: boolean) => {
      setOpening(undefined);
      if (r.type === 'dataset-opened') {
        lastEntries.current = entries;
        lastOptions.current = options;
        setFailure(undefined);
        setPreview(undefined);
        setState({ status: 'opened', name, report: r.report, remembered, largestImage: r.largestImage });
        if (r.report.usable > 0) return showPreview(0);
      } else if (r.type === 'dataset-error') {
        lastEntries.current = entries;
        lastOptions.current = options;
        setFailure({ name, error: r.error });
      }
      return undefined;
    },
    [showPreview],
  );

  /**
   * Opens dropped files. `chosen` marks options the person chose in the panel (remembered for the
   * layout once they open it); a fresh drop uses what was remembered for its layout, if anything.
   */
  const open = useCallback(
    async (entries: DroppedEntry[], options: OpenOptions = {}, chosen = false) => {
      if (entries.length === 0) return;
      const name = nameOf(entries);
      setOpening({ name, files: entries.length });
      const r = await send({ type: 'dataset-open', entries, options });
      if (r.id !== latest.current || r.type === 'dataset-superseded') return;
      const fresh = !chosen && options.fields === undefined && options.boxFormat === undefined;
      const columns =
        r.type === 'dataset-opened'
          ? r.report.columns
          : r.type === 'dataset-error'
            ? r.error.columns
            : undefined;
      const recalled = fresh && columns !== undefined ? recallLayout(columns) : undefined;
      const usable = r.type === 'dataset-opened' && r.report.usable > 0 && r.report.ambiguity === undefined;
      if (recalled !== undefined && !usable) {
        const again = await send({ type: 'dataset-open', entries, options: { ...options, ...recalled } });
        if (again.id !== latest.current || again.type === 'dataset-superseded') return;
        return settle(entries, { ...options, ...recalled }, name, again, true);
      }
      if (chosen && usable) rememberLayout(r.report.columns, options);
      return settle(entries, options, name, r, false);
    },
    [send, settle],
  );

  /** Opens the last drop again with some options changed (a split, a box format, field names). */
  const reopen = useCallback(
    (changes: OpenOptions) => open(lastEntries.current, { ...lastOptions.current, ...changes }, true),
    [open],
  );

  const chooseSynthetic = useCallback(async () => {
    setOpening(undefined);
    setFailure(undefined);
    const r = await send({ type: 'dataset-synthetic', seed: SYNTHETIC_SEED, count: SYNTHETIC_COUNT });
    if (r.id !== latest.current) return;
    if (r.type === 'dataset-synthetic') {
      setPreview(undefined);
      setState({ status: 'synthetic', count: r.count, seed: r.seed });
      await showPreview(0);
    }
  }, [send, showPreview]);

  const dismissFailure = useCallback(() => setFailure(undefined), []);

  return {
    state,
    opening,
    failure,
    preview,
    open,
    reopen,
    chooseSynthetic,
    showPreview,
    previewRow,
    dismissFailure,
  };
}
