// Timing for benchmarks: warm-up runs, then the median of the timed runs (wall clock around a call that
// resolves when its GPU work has finished).

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
}

export async function measure(fn: () => Promise<void>, { warmup = 2, runs = 5 } = {}): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return { medianMs, minMs: times[0]!, runs };
}

export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
