// The runs the worker keeps in OPFS, as the runs panel shows them: listed when the page opens and again
// after each checkpoint and when a run ends; exports downloaded as one zip; deletion. Errors answering
// these requests are kept for the panel to show; the run and the page go on.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ExportWhat, WorkerEvent, WorkerRequest } from '../../../grpo/worker/protocol.ts';
import type { StoredRun } from '../../../grpo/worker/run-store.ts';
import { onWorkerEvent, postToWorker, requestId } from '../../grpo-worker.ts';
import { exportArchive } from './stored-runs.ts';

export interface StoredRuns {
  /** null until the worker first answers. */
  list: { available: boolean; runs: StoredRun[] } | null;
  /** The action in flight, as 'RUN_ID what' ('delete' or an export). */
  busy: string | null;
  error: string | null;
}

type Pending = (event: WorkerEvent) => void;

/** Offers `bytes` as a download named `name`. */
export function saveFile(name: string, bytes: Uint8Array, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function useStoredRuns() {
  const [state, setState] = useState<StoredRuns>({ list: null, busy: null, error: null });
  const pending = useRef(new Map<number, Pending>());

  const request = useCallback(
    (make: (id: number) => WorkerRequest): Promise<WorkerEvent> =>
      new Promise((resolve) => {
        const id = requestId();
        pending.current.set(id, resolve);
        postToWorker(make(id));
      }),
    [],
  );

  const refresh = useCallback(async () => {
    const event = await request((id) => ({ type: 'runs', id }));
    if (event.type === 'runs')
      setState((s) => ({ ...s, list: { available: event.available, runs: event.runs } }));
    else if (event.type === 'error') setState((s) => ({ ...s, error: event.message }));
  }, [request]);

  useEffect(() => {
    const waiting = pending.current;
    const off = onWorkerEvent((event) => {
      const id = 'id' in event ? event.id : undefined;
      const done = id === undefined ? undefined : waiting.get(id);
      if (done && id !== undefined) {
        waiting.delete(id);
        done(event);
        return;
      }
      if (event.type === 'checkpoint' || (event.type === 'state' && event.state !== 'running'))
        void refresh();
    });
    void refresh();
    return () => {
      off();
      waiting.clear();
    };
  }, [refresh]);

  const act = useCallback(
    async (busy: string, make: (id: number) => WorkerRequest, onDone: (event: WorkerEvent) => void) => {
      setState((s) => ({ ...s, busy, error: null }));
      const event = await request(make);
      setState((s) => ({ ...s, busy: null }));
      if (event.type === 'error') setState((s) => ({ ...s, error: event.message }));
      else onDone(event);
    },
    [request],
  );

  /** Downloads an export of `runId` (the loaded run's current policy when it is the loaded one). */
  const download = useCallback(
    (runId: string, what: ExportWhat) =>
      act(
        `${runId} ${what}`,
        (id) => ({ type: 'export', id, what, runId }),
        (event) => {
          if (event.type !== 'export-result') return;
          const zip = exportArchive(event.runId, event.what, event.step, event.files);
          saveFile(zip.name, zip.bytes, 'application/zip');
        },
      ),
    [act],
  );

  const remove = useCallback(
    (runId: string) =>
      act(
        `${runId} delete`,
        (id) => ({ type: 'delete-run', id, runId }),
        () => void refresh(),
      ),
    [act, refresh],
  );

  return {
    ...state,
    refresh,
    download,
    remove,
    dismissError: () => setState((s) => ({ ...s, error: null })),
  };
}
