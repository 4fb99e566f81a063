// The shared turn queue: one change let in per frame, the next frame asked for only after `done`, in the
// order they were queued, and a cancelled change never let in.
import { describe, expect, it } from 'vitest';
import { TurnQueue } from '../../src/ui/turn-queue.ts';

function frames() {
  const callbacks: (() => void)[] = [];
  return {
    request: (f: () => void) => callbacks.push(f),
    /** Runs the frame callbacks requested so far; how many there were. */
    tick: () => {
      const due = callbacks.splice(0);
      for (const f of due) f();
      return due.length;
    },
  };
}

describe('TurnQueue', () => {
  it('lets one change in per frame, and asks for the next frame only once it is done', () => {
    const f = frames();
    const q = new TurnQueue(f.request);
    const admitted: string[] = [];
    q.enqueue(() => admitted.push('a'));
    q.enqueue(() => admitted.push('b'));
    q.enqueue(() => admitted.push('c'));
    expect(f.tick()).toBe(1);
    expect(admitted).toEqual(['a']);
    // 'a' has not committed: no frame is asked for.
    expect(f.tick()).toBe(0);
    q.done();
    f.tick();
    expect(admitted).toEqual(['a', 'b']);
    q.done();
    f.tick();
    q.done();
    expect(admitted).toEqual(['a', 'b', 'c']);
    expect(f.tick()).toBe(0);
    expect(q.pending).toBe(0);
  });

  it('drops a cancelled change and goes on with the rest', () => {
    const f = frames();
    const q = new TurnQueue(f.request);
    const admitted: string[] = [];
    q.enqueue(() => admitted.push('a'));
    const cancelB = q.enqueue(() => admitted.push('b'));
    q.enqueue(() => admitted.push('c'));
    cancelB();
    f.tick();
    q.done();
    f.tick();
    expect(admitted).toEqual(['a', 'c']);
  });

  it('is free again when the only waiting change is cancelled before its frame', () => {
    const f = frames();
    const q = new TurnQueue(f.request);
    const admitted: string[] = [];
    const cancel = q.enqueue(() => admitted.push('a'));
    cancel();
    expect(f.tick()).toBe(1);
    q.enqueue(() => admitted.push('b'));
    f.tick();
    expect(admitted).toEqual(['b']);
  });
});
