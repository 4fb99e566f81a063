// Timing for benchmarks: warm-up runs, then the median of the timed runs (wall clock around a call that
// resolves when its GPU work has finished). Warm-up lasts at least WARM_MS as well as its count of runs:
// a GPU left idle (by the CPU-only rows before) runs at a fraction of its clock for a while. Single
// kernels are timed queued: each timed run queues the kernel as many times as fill about 40 ms and waits
// once, so that the wait for the GPU (a fraction of a millisecond, the whole of a small kernel's time on
// a fast GPU) is spread over the repeats; kernels compared with each other are timed interleaved.

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
  /** Calls per timed run (measureQueued); the times are per call. */
  repeats?: number;
}

function summarise(times: number[], runs: number, repeats?: number): Timing {
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return { medianMs, minMs: times[0]!, runs, ...(repeats ? { repeats } : {}) };
}

const WARM_MS = 300;

export async function measure(fn: () => Promise<void>, { warmup = 2, runs = 5 } = {}): Promise<Timing> {
  const start = performance.now();
  for (let i = 0; i < warmup || performance.now() - start < WARM_MS; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return summarise(times, runs);
}

const QUEUED_TARGET_MS = 40;
const MAX_REPEATS = 512;

/** A kernel timed queued: `queue` queues its GPU work (and may return before it runs), `wait` resolves
 *  when all queued work is done. */
export interface Queued {
  queue: () => void | Promise<void>;
  wait: () => Promise<void>;
}

/** Times each side queued, run i of every side before run i + 1 of any, so that a drift in the machine's
 *  speed during the runs hits every side alike. Each side warms up alone first with one call per run,
 *  the last of which sets its repeats. */
export async function measureQueuedInterleaved(
  sides: Queued[],
  { warmup = 2, runs = 5 } = {},
): Promise<Timing[]> {
  const repeats: number[] = [];
  for (const { queue, wait } of sides) {
    let single = 0;
    const start = performance.now();
    for (let i = 0; i < Math.max(1, warmup) || performance.now() - start < WARM_MS; i++) {
      const t0 = performance.now();
      await queue();
      await wait();
      single = performance.now() - t0;
    }
    repeats.push(Math.min(MAX_REPEATS, Math.max(1, Math.ceil(QUEUED_TARGET_MS / Math.max(single, 1e-3)))));
  }
  const times: number[][] = sides.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [s, { queue, wait }] of sides.entries()) {
      const t0 = performance.now();
      for (let r = 0; r < repeats[s]!; r++) await queue();
      await wait();
      times[s]!.push((performance.now() - t0) / repeats[s]!);
    }
  }
  return times.map((t, s) => summarise(t, runs, repeats[s]));
}

export async function measureQueued(
  queue: () => void | Promise<void>,
  wait: () => Promise<void>,
  options: { warmup?: number; runs?: number } = {},
): Promise<Timing> {
  return (await measureQueuedInterleaved([{ queue, wait }], options))[0]!;
}

export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
