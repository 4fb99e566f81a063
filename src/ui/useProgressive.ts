// Spreads costly rendering over frames. One queue (turn-queue.ts), shared app-wide, lets one change in
// per animation frame, and the next only once that one has committed: useProgressive mounts a list an
// item at a time, and useQueued shows a new value once its turn comes. So konva stages, charts and the
// samples table appearing or changing together never share a frame.
import { useEffect, useRef, useState } from 'react';
import { TurnQueue } from './turn-queue.ts';

const turns = new TurnQueue((f) => requestAnimationFrame(f));

/**
 * Queues `apply` (a state update) while `pending`; once it has committed (`shown` changes), the queue
 * goes on. `shown` and `target` are what pending and apply are made of.
 */
function useTurn(pending: boolean, apply: () => void, shown: unknown, target: unknown): void {
  const admitted = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: pending and apply follow from shown and target
  useEffect(() => {
    if (admitted.current) {
      admitted.current = false;
      turns.done();
    }
    if (!pending) return;
    return turns.enqueue(() => {
      admitted.current = true;
      apply();
    });
  }, [shown, target]);
  // Unmounted between being let in and committing: the queue goes on.
  useEffect(
    () => () => {
      if (admitted.current) turns.done();
    },
    [],
  );
}

/** How many of `total` items to render now: one more each turn. */
export function useProgressive(total: number): number {
  const [shown, setShown] = useState(0);
  if (shown > total) setShown(total);
  useTurn(shown < total, () => setShown((n) => Math.min(total, n + 1)), shown, total);
  return Math.min(shown, total);
}

/** `value` as it was when this hook last had its turn (the first value at once). */
export function useQueued<T>(value: T): T {
  const [shown, setShown] = useState(value);
  useTurn(!Object.is(shown, value), () => setShown(() => value), shown, value);
  return shown;
}
