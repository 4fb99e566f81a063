// The page's run store, fed by the GRPO worker's run events from the first use on, and the hook that reads it.
import { useStore } from 'zustand';
import { onWorkerEvent } from '../grpo-worker.ts';
import { createRunStore, isRunEvent, type RunStore } from './run-store.ts';

export const runStore = createRunStore();

let listening = false;

/** Starts feeding the store; the worker is created on the first request, so nothing is missed. */
export function listenToRun(): void {
  if (listening) return;
  listening = true;
  onWorkerEvent((event) => {
    if (isRunEvent(event)) runStore.getState().apply(event);
  });
}

export function useRun<T>(selector: (s: RunStore) => T): T {
  listenToRun();
  return useStore(runStore, selector);
}
