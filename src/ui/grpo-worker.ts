// The page's one GRPO worker (src/grpo/worker/worker.ts), created on first use and kept for the page's life: it
// holds the dataset the panel opened and the training run, so React remounts must not end it.
import type { WorkerEvent, WorkerRequest } from '../grpo/worker/protocol.ts';

type Listener = (event: WorkerEvent) => void;

let worker: Worker | undefined;
const listeners = new Set<Listener>();

function grpoWorker(): Worker {
  if (worker === undefined) {
    worker = new Worker(new URL('../grpo/worker/worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (event: MessageEvent<WorkerEvent>) => {
      for (const listener of listeners) listener(event.data);
    };
  }
  return worker;
}

let lastRequestId = 0;

/** A fresh id for a request the worker answers (dataset, eval, export and store requests share them). */
export function requestId(): number {
  return ++lastRequestId;
}

export function postToWorker(request: WorkerRequest): void {
  grpoWorker().postMessage(request);
}

/** Calls `listener` with every event the worker posts; returns the unsubscribe function. */
export function onWorkerEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
